from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hiermusic.services.common.level import INIT_SEED
from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES
from hiermusic.services.semantic.planner import BAR_CHOICES, FormPlan, Planner, PlannerConfig, bar_seconds, beat_grid
from hiermusic.services.semantic.prompt import PromptAttributes

E = 256


@pytest.fixture(scope="module")
def planner() -> Planner:
    torch.manual_seed(INIT_SEED)
    return Planner(PlannerConfig(), E).eval()


def _text(seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(E, generator=torch.Generator().manual_seed(seed)), dim=0)


def _plan(planner: Planner, duration: float, seed: int, explicit: PromptAttributes = PromptAttributes()) -> FormPlan:
    return planner.plan(_text(), duration, explicit, torch.Generator().manual_seed(seed), 1.0, 0)


@pytest.mark.parametrize("duration", [0.5, 7.3, 30.0, 181.25, 600.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sections_fill_the_duration_exactly(planner: Planner, duration: float, seed: int) -> None:
    form = _plan(planner, duration, seed)
    sections = form.sections
    bar_s = bar_seconds(form.tempo_bpm)
    assert sections[0].start_s == 0.0 and sections[-1].end_s == duration
    for i, s in enumerate(sections):
        assert s.type in SECTION_TYPES and 0.0 <= s.energy <= 1.0 and s.start_s < s.end_s
        if i + 1 < len(sections):
            assert s.end_s == sections[i + 1].start_s
            assert s.bars in BAR_CHOICES and s.end_s - s.start_s == pytest.approx(s.bars * bar_s)
    last = sections[-1]
    # The last section is cut (or stretched by less than a bar) to end on time.
    assert last.bars >= 1 and abs(last.bars - (last.end_s - last.start_s) / bar_s) <= 1.0
    assert last.end_s - last.start_s >= min(bar_s, duration) - 1e-9


def test_repeat_of_points_at_the_first_section_of_the_type(planner: Planner) -> None:
    sections = _plan(planner, 240.0, 3).sections
    first: dict[str, int] = {}
    for i, s in enumerate(sections):
        assert s.repeat_of == first.setdefault(s.type, i)
    assert len(first) < len(sections), "a 4-minute piece should repeat some section type"


def test_explicit_attributes_override_predictions(planner: Planner) -> None:
    explicit = PromptAttributes(tempo_bpm=97.5, key="Db", mode="dorian")
    form = _plan(planner, 60.0, 0, explicit)
    assert (form.tempo_bpm, form.key, form.mode) == (97.5, "Db", "dorian")
    bar_s = bar_seconds(97.5)
    assert form.sections[1].start_s == pytest.approx(form.sections[0].bars * bar_s)
    free = _plan(planner, 60.0, 0)
    assert free.key in KEYS and free.mode in MODES
    assert 60 <= free.tempo_bpm <= 180


def test_same_seed_same_form_other_seeds_differ(planner: Planner) -> None:
    assert _plan(planner, 90.0, 7) == _plan(planner, 90.0, 7)
    assert len({repr(_plan(planner, 90.0, s)) for s in range(5)}) > 1


def test_teacher_forcing_logits_are_causal_and_trainable() -> None:
    torch.manual_seed(0)
    planner = Planner(PlannerConfig(), E)
    b, s = 2, 6
    types = torch.randint(0, len(SECTION_TYPES), (b, s))
    bars = torch.randint(0, len(BAR_CHOICES), (b, s))
    energy = torch.randint(0, 5, (b, s))
    start = torch.arange(s, dtype=torch.float32).expand(b, s) * 8.0
    duration, tempo = torch.tensor([60.0, 50.0]), torch.tensor([120.0, 96.0])
    text = F.normalize(torch.randn(b, E), dim=-1)
    out = planner(text, types, bars, energy, start, duration, tempo)
    assert out["tempo"].shape == (b, PlannerConfig().tempo_bins)
    assert out["key"].shape == (b, 12) and out["mode"].shape == (b, 4)
    assert out["section_type"].shape == (b, s, len(SECTION_TYPES))
    assert out["bars"].shape == (b, s, len(BAR_CHOICES)) and out["energy"].shape == (b, s, 5)

    # Section k's prediction sees only sections before it.
    changed = types.clone()
    changed[:, 3] = (changed[:, 3] + 1) % len(SECTION_TYPES)
    again = planner(text, changed, bars, energy, start, duration, tempo)
    assert torch.allclose(again["section_type"][:, :4], out["section_type"][:, :4], atol=1e-6)
    assert not torch.allclose(again["section_type"][:, 4:], out["section_type"][:, 4:])

    loss = F.cross_entropy(out["tempo"], planner.tempo_to_bin(tempo)) + F.cross_entropy(
        out["section_type"].flatten(0, 1), types.flatten()
    )
    loss.backward()
    assert planner.type_head.weight.grad is not None and planner.tempo_head.weight.grad is not None


def test_label_bins_round_trip(planner: Planner) -> None:
    bins = planner.tempo_to_bin(torch.tensor([60.0, 122.0, 180.0, 250.0]))
    assert bins.tolist() == [0, 31, 60, 60]
    assert planner.bin_to_tempo(30) == 120.0
    energy = planner.energy_to_bin(torch.tensor([0.0, 0.3, 0.75, 1.0]))
    assert energy.tolist() == [0, 1, 3, 4]
    assert [planner.energy_value(i) for i in energy.tolist()] == [0.0, 0.25, 0.75, 1.0]


@pytest.mark.parametrize("tempo_bpm, duration_s", [(60, 1.0), (60, 1.5), (180, 1.0), (120, 2.0), (75, 600.0)])
def test_the_beat_grid_has_two_bar_lines_and_reaches_past_the_end(tempo_bpm: float, duration_s: float) -> None:
    """What the scheduler takes (orchestrator.song.plan_times): two or more
    increasing times, here from 0 past the piece's end, even for a piece
    shorter than a bar."""
    beats, downbeats = beat_grid(tempo_bpm, duration_s)
    assert len(downbeats) >= 2 and (np.diff(downbeats) > 0).all() and (np.diff(beats) > 0).all()
    assert beats[0] == downbeats[0] == 0 and beats[-1] >= duration_s
    np.testing.assert_allclose(np.diff(beats), 60.0 / tempo_bpm, atol=1e-4)  # float32 seconds
