"""Per-section loudness, drums and the ending level on audio whose answer is
known, each contrast both ways."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.corpus.synth import render
from hiermusic.evaluation.form_summary import summarize_form
from hiermusic.evaluation.piece_analysis import analyze_form
from hiermusic.evaluation.prompt_set import AskedForm
from hiermusic.evaluation.report import _form_figures
from hiermusic.evaluation.section_measures import drums_in_vs_out, ending_level, loud_vs_quiet, section_levels

SR = 24000
SEED = 1005  # an electronic corpus song with drums (tests/evaluation's seeds start at 1000)


def _tone(seconds: float, db: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (10 ** (db / 20) * np.sqrt(2) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _sections(*spans: tuple[str, float, float]) -> list[dict]:
    return [{"type": t, "start_s": a, "end_s": b} for t, a, b in spans]


VERSE_CHORUS = _sections(("verse", 0.0, 10.0), ("chorus", 10.0, 20.0))


def test_loudness_is_read_inside_the_section_edges():
    # A -30 dBFS verse, a -20 dBFS chorus, and a burst at the boundary that the trimmed edges leave out.
    audio = np.concatenate([_tone(10, -30), _tone(10, -20)])
    audio[int(9.8 * SR): int(10.2 * SR)] = 0.9
    levels = section_levels(audio, SR, VERSE_CHORUS)
    assert [round(x.loudness_dbfs, 1) for x in levels] == [-30.0, -20.0]
    louder = loud_vs_quiet(levels, ("chorus",), ("verse",))
    assert louder.passed and louder.value == pytest.approx(10.0, abs=0.1)
    assert not loud_vs_quiet(levels, ("verse",), ("chorus",)).passed
    # 2 dB apart is not enough.
    close = section_levels(np.concatenate([_tone(10, -22), _tone(10, -20)]), SR, VERSE_CHORUS)
    assert not loud_vs_quiet(close, ("chorus",), ("verse",)).passed


def test_a_type_the_plan_lacks_fails_with_its_name():
    levels = section_levels(_tone(20, -20), SR, VERSE_CHORUS)
    result = loud_vs_quiet(levels, ("bridge",), ("verse",))
    assert not result.passed and result.value is None and "no bridge" in result.reason


@pytest.fixture(scope="module")
def with_and_without_drums() -> tuple[np.ndarray, np.ndarray]:
    """The first 20 s of a corpus song, with its drum kit and without."""
    spec = compose_spec(SEED)
    assert spec.instruments.drums
    dry = replace(spec, instruments=replace(spec.instruments, drums=False))
    return render(arrange(spec)[0], SEED)[: 20 * SR], render(arrange(dry)[0], SEED)[: 20 * SR]


def test_drums_in_the_chorus_and_out_of_the_verse(with_and_without_drums):
    drums, dry = with_and_without_drums
    sections = _sections(("verse", 0.0, 20.0), ("chorus", 20.0, 40.0))
    levels = section_levels(np.concatenate([dry, drums]), SR, sections)
    assert drums_in_vs_out(levels, ("chorus",), ("verse",)).passed
    assert not drums_in_vs_out(levels, ("verse",), ("chorus",)).passed
    # No drums anywhere: both sections sit under the floor, 1x.
    neither = drums_in_vs_out(section_levels(np.concatenate([dry, dry]), SR, sections), ("chorus",), ("verse",))
    assert not neither.passed and neither.value == pytest.approx(1.0)


def test_an_ending_at_full_level_and_a_fade():
    steady = _tone(20, -20)
    assert ending_level(steady, SR).passed
    faded = steady.copy()
    faded[-3 * SR:] *= np.linspace(1.0, 0.0, 3 * SR, dtype=np.float32) ** 3
    assert not ending_level(faded, SR).passed
    assert not ending_level(np.zeros(SR * 5, np.float32), SR).passed


def test_a_piece_measured_and_summed_up(with_and_without_drums):
    drums, dry = with_and_without_drums
    audio = np.concatenate([dry[: 10 * SR] * 0.3, drums[: 10 * SR]])
    form = AskedForm(order=("verse", "chorus"), abrupt_ending=True, loud=("chorus",), quiet=("verse",),
                     drums_in=("chorus",), drums_out=("verse",))
    record = {"sections": [dict(s, energy=e, repeat_of=i, drums=d) for i, (s, e, d)
                           in enumerate(zip(VERSE_CHORUS, (0.2, 0.85), ("unwanted", "wanted")))],
              "requested_duration_s": 20.0}
    made = analyze_form(audio, SR, record, form)
    assert made["honoured"] and made["loud_vs_quiet"]["passed"] and made["drums_in_vs_out"]["passed"]
    assert made["abrupt_ending"]["passed"] and all(c["passed"] for c in made["descriptions"])
    open_form = analyze_form(audio, SR, record, AskedForm(open_form=True))
    assert open_form["honoured"] is None and open_form["returns"]["counted"] is False  # 20 s: too short
    summary = summarize_form([{"measures": {"form": made}}, {"measures": {"form": open_form}}, {"measures": {}}])
    assert summary["pieces"] == 2
    assert summary["honoured"] == {"passed": 1, "of": 1, "share": 1.0}
    assert summary["returns"]["of"] == 0
    assert summary["loud_vs_quiet"]["median_gap_db"] > 3
    labels = [f.label for f in _form_figures(summary)]
    assert "asked forms honoured in the plan" in labels and "returns in >= 45 s open-form pieces" in labels
    assert summarize_form([{"measures": {}}]) is None and _form_figures(None) == []
