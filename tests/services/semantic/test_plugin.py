from __future__ import annotations

import functools
import json
import math
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hiermusic.evaluation.rule_breaks import borrowed_pitch_classes
from hiermusic.evaluation.tonality import PROFILES, mode_quality
from hiermusic.services.common.bootstrap import WEIGHTS_DIR, bundled_checkpoint
from hiermusic.services.common.checkpoint import save_checkpoint
from hiermusic.services.common.level import card_for
from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES
from hiermusic.services.common.plugins import load_plugin
from hiermusic.services.semantic.plugin import MiniLMPlanner, PlanResult
from hiermusic.services.semantic.sampling import SemanticSampling

CPU = torch.device("cpu")
PROMPT = "an upbeat synth-pop song with a catchy chorus"


@pytest.fixture(scope="module")
def plugin() -> MiniLMPlanner:
    return MiniLMPlanner(None, CPU)


def _assert_plan_is_consistent(plan: PlanResult, duration: float, rate: float, dim: int) -> None:
    t = math.ceil(duration * rate - 1e-9)
    assert plan.semantic_tokens.shape == (t,) and plan.semantic_tokens.dtype == np.int64
    assert plan.frame_sections.shape == (t,) and plan.frame_sections.dtype == np.int64
    assert 0 <= plan.semantic_tokens.min() and plan.semantic_tokens.max() < 512
    assert plan.text_embedding.shape == (dim,) and plan.text_embedding.dtype == np.float32
    assert np.linalg.norm(plan.text_embedding) == pytest.approx(1.0, abs=1e-5)
    s = len(plan.sections)
    assert plan.section_embeddings.shape == (s, dim) and plan.section_embeddings.dtype == np.float32
    assert np.isfinite(plan.section_embeddings).all()
    assert plan.sections[0].start_s == 0.0 and plan.sections[-1].end_s == duration
    for a, b in zip(plan.sections, plan.sections[1:]):
        assert a.end_s == b.start_s
    for i, sec in enumerate(plan.sections):
        assert sec.type in SECTION_TYPES and sec.bars >= 1 and 0.0 <= sec.energy <= 1.0
        assert sec.repeat_of <= i and plan.sections[sec.repeat_of].type == sec.type
        frames = np.flatnonzero(plan.frame_sections == i)
        assert len(frames) > 0, f"section {i} holds no frame"
        assert sec.start_s <= frames[0] / rate and frames[-1] / rate < sec.end_s


def test_found_through_the_entry_point() -> None:
    assert load_plugin("semantic", "minilm_planner") is MiniLMPlanner


def test_info_reports_an_untrained_model(plugin: MiniLMPlanner) -> None:
    info = plugin.info()
    assert (info.level, info.plugin, info.trained) == ("semantic", "minilm_planner", False)
    assert "untrained" in info.model_version
    assert info.token_space.semantic_vocab_size == 512 and info.token_space.embedding_dim == 256


@pytest.mark.parametrize("duration", [1.0, 12.0, 33.7])  # 1 s: the shortest piece (limits.MIN_DURATION_S)
def test_plan_shapes_and_structure(plugin: MiniLMPlanner, duration: float) -> None:
    space = plugin.token_space
    plan = plugin.plan(PROMPT, duration, seed=1, temperature=0, top_k=0)
    _assert_plan_is_consistent(plan, duration, space.semantic_rate, space.embedding_dim)


def test_explicit_tempo_key_mode_are_honoured(plugin: MiniLMPlanner) -> None:
    plan = plugin.plan("a mellow ballad in Bb mixolydian at 72 bpm", 20.0, seed=3, temperature=0, top_k=0)
    assert (plan.tempo_bpm, plan.key, plan.mode) == (72.0, "Bb", "mixolydian")
    bar_s = 240.0 / 72.0
    if len(plan.sections) > 1:
        assert plan.sections[0].end_s == pytest.approx(plan.sections[0].bars * bar_s)
    # The beat grid the lower levels hear: every beat at 72 bpm from 0 past the end, a bar every 4 beats.
    np.testing.assert_allclose(np.diff(plan.beats), 60.0 / 72.0, rtol=1e-5)
    assert plan.beats[0] == 0 and plan.beats[-1] >= 20.0 and plan.downbeats.tolist() == plan.beats[::4].tolist()
    for section in plan.sections:
        assert np.abs(plan.downbeats - section.start_s).min() < 1e-3  # sections start on bar lines


def test_deterministic_by_seed(plugin: MiniLMPlanner) -> None:
    a = plugin.plan(PROMPT, 10.0, seed=11, temperature=0, top_k=0)
    b = plugin.plan(PROMPT, 10.0, seed=11, temperature=0, top_k=0)
    c = plugin.plan(PROMPT, 10.0, seed=12, temperature=0, top_k=0)
    assert np.array_equal(a.semantic_tokens, b.semantic_tokens) and a.sections == b.sections
    assert np.array_equal(a.section_embeddings, b.section_embeddings)
    assert not np.array_equal(a.semantic_tokens, c.semantic_tokens)


def test_the_plan_in_parts_is_the_plan(plugin: MiniLMPlanner) -> None:
    whole = plugin.plan(PROMPT, 10.0, seed=11, temperature=0, top_k=0)
    form, blocks = plugin.plan_parts(PROMPT, 10.0, seed=11, temperature=0, top_k=0, block_frames=25)
    assert form.semantic_tokens.size == 0 and form.sections == whole.sections
    assert np.array_equal(form.frame_sections, whole.frame_sections)
    sizes = []
    for block in blocks:
        assert block.dtype == np.int64
        sizes.append(len(block))
        form.semantic_tokens = np.concatenate([form.semantic_tokens, block])
    assert sizes == [25] * 5  # 125 frames: 10 s at 12.5 a second
    assert np.array_equal(form.semantic_tokens, whole.semantic_tokens)
    with pytest.raises(ValueError, match="block_frames"):
        plugin.plan_parts(PROMPT, 10.0, seed=11, temperature=0, top_k=0, block_frames=0)


def test_prompt_changes_the_text_embedding(plugin: MiniLMPlanner) -> None:
    a = plugin.plan(PROMPT, 2.0, seed=0, temperature=0, top_k=0)
    b = plugin.plan("a dark orchestral film score", 2.0, seed=0, temperature=0, top_k=0)
    assert not np.allclose(a.text_embedding, b.text_embedding)


def test_a_repeated_section_type_gets_the_same_embedding(plugin: MiniLMPlanner) -> None:
    plan = plugin.plan(PROMPT, 40.0, seed=2, temperature=0, top_k=0)
    repeats = [(i, s.repeat_of) for i, s in enumerate(plan.sections) if s.repeat_of != i]
    assert repeats, "this plan brings back a section type"
    for i, first in repeats:
        assert np.array_equal(plan.section_embeddings[i], plan.section_embeddings[first])


def share_repeated(plan: PlanResult) -> float:
    """The share of the repeats' tokens that are their first occurrence's at the same offset."""
    same, total = 0, 0
    for i, s in enumerate(plan.sections):
        if s.repeat_of == i:
            continue
        again, first = (plan.semantic_tokens[plan.frame_sections == k] for k in (i, s.repeat_of))
        n = min(len(again), len(first))
        same, total = same + int((again[:n] == first[:n]).sum()), total + n
    assert total >= 40
    return same / total


def test_a_repeated_section_brings_back_its_first_occurrences_tokens(plugin: MiniLMPlanner) -> None:
    plan = plugin.plan(PROMPT, 40.0, seed=2, temperature=1.0, top_k=0)
    # Copied with probability repeat_copy; sampled tokens of an untrained model match by chance only.
    assert abs(share_repeated(plan) - plugin.sampling.repeat_copy) < 0.15


def test_sampling_comes_from_the_card_and_a_service_overrides_it(plugin: MiniLMPlanner, tmp_path: Path) -> None:
    assert plugin.sampling == SemanticSampling()  # untrained: the defaults
    card = card_for(plugin.name, plugin.level, plugin.config, plugin.token_space, "minilm_planner-test-2")
    path = tmp_path / "semantic.safetensors"
    save_checkpoint(plugin.model, replace(card, sampling={"repeat_copy": 1.0, "key_window": 10}), path)
    from_card = MiniLMPlanner(path, CPU)
    assert from_card.sampling == SemanticSampling(repeat_copy=1.0, key_window=10)
    assert share_repeated(from_card.plan(PROMPT, 40.0, seed=2, temperature=1.0, top_k=0)) == 1.0
    overridden = MiniLMPlanner(path, CPU, sampling={"repeat_copy": 0.0})
    assert overridden.sampling == SemanticSampling(repeat_copy=0.0, key_window=10)
    assert share_repeated(overridden.plan(PROMPT, 40.0, seed=2, temperature=1.0, top_k=0)) < 0.3
    with pytest.raises(ValueError, match=r"sampling\.key_weigth: unknown field \(SemanticSampling has"):
        MiniLMPlanner(path, CPU, sampling={"key_weigth": 2.0})
    with pytest.raises(ValueError, match=r"sampling\.key_window: expected an integer in \[1, inf\], got 0"):
        MiniLMPlanner(path, CPU, sampling={"key_window": 0})
    save_checkpoint(plugin.model, replace(card, sampling={"key_weigth": 2.0}), path)
    with pytest.raises(ValueError, match=r"card of minilm_planner-test-2: sampling\.key_weigth: unknown field"):
        MiniLMPlanner(path, CPU)


def test_the_bundled_card_states_every_sampling_setting() -> None:
    card = json.loads((WEIGHTS_DIR / "semantic.json").read_text())
    assert set(card["sampling"]) == {f.name for f in fields(SemanticSampling)}


@pytest.mark.parametrize(
    ("prompt", "duration", "message"),
    [("", 10.0, "empty"), ("   ", 10.0, "empty"), (PROMPT, 0.0, "duration"), (PROMPT, -1.0, "duration"),
     (PROMPT, 600.5, "duration"), (PROMPT, float("nan"), "duration")],
)
def test_bad_requests_are_refused(plugin: MiniLMPlanner, prompt: str, duration: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plugin.plan(prompt, duration, seed=0, temperature=0, top_k=0)


def test_checkpoint_round_trip_without_minilm(plugin: MiniLMPlanner, tmp_path: Path) -> None:
    # Perturbed weights, so loading them is distinguishable from a fresh init.
    source = MiniLMPlanner(None, CPU)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in source.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    card = card_for(source.name, source.level, source.config, source.token_space, "minilm_planner-test-1")
    card.trained = True
    path = tmp_path / "semantic.safetensors"
    save_checkpoint(source.model, card, path)

    state = load_file(str(path))
    assert all(k.split(".")[0] in {"text", "planner", "semantic"} for k in state)
    assert not any("auto_model" in k or "encoder" in k or 30522 in v.shape for k, v in state.items())
    assert sum(v.numel() for v in state.values()) < 10_000_000  # MiniLM alone is 22.7M

    loaded = MiniLMPlanner(path, CPU)
    info = loaded.info()
    assert info.model_version == "minilm_planner-test-1" and info.trained and len(info.checkpoint_digest) == 64
    want = source.plan(PROMPT, 16.0, seed=5, temperature=0, top_k=0)
    got = loaded.plan(PROMPT, 16.0, seed=5, temperature=0, top_k=0)
    fresh = plugin.plan(PROMPT, 16.0, seed=5, temperature=0, top_k=0)
    assert got.sections == want.sections and np.array_equal(got.semantic_tokens, want.semantic_tokens)
    assert np.array_equal(got.section_embeddings, want.section_embeddings)
    assert not np.array_equal(got.text_embedding, fresh.text_embedding)


def test_the_bundled_model_plans_drumless_tokens_when_asked() -> None:
    """The bundled model's tokens side with the prompt by the corpus's own
    evidence: log p(drums | token) - log p(no drums | token), averaged over
    the piece, in the plan's mode (over all modes, on corpus A's held-out
    songs its sign told drums 48 of 51 times)."""
    planner = bundled_planner()
    evidence = planner.model.semantic.drums_evidence.clone()
    log_odds = (evidence[1] - evidence[2]).float()  # [modes, vocab]

    def mean_log_odds(prompt: str) -> float:
        plans = [planner.plan(prompt, 20.0, seed=seed, temperature=0, top_k=0) for seed in (0, 1)]
        return float(np.mean([log_odds[MODES.index(p.mode)][torch.from_numpy(p.semantic_tokens)].mean()
                              for p in plans]))

    asked_away = ["slow sad classical piano in D minor, no drums please", "a calm string quartet, no percussion at all"]
    weighed = [mean_log_odds(prompt) for prompt in asked_away]
    try:
        planner.model.semantic.drums_evidence.zero_()  # the transformer alone
        alone = [mean_log_odds(prompt) for prompt in asked_away]
    finally:
        planner.model.semantic.drums_evidence.copy_(evidence)
    assert max(weighed) < 0 and np.mean(weighed) < np.mean(alone) - 0.5, (weighed, alone)
    assert mean_log_odds("dark techno beat with big drums, 132 bpm") > 1.0


def test_the_bundled_model_plans_drumless_tokens_for_styles_the_corpus_drums() -> None:
    """A rock or pop song asked without drums: among the model's likeliest
    tokens few are drumless, so the evidence's weight alone left the plans
    on the drums' side; the floor (sampling.drums_floor) keeps only tokens heard at
    least as often without drums. Measured when written, mean log-odds of
    drums over 20 s plans, seeds 0 and 1: rock -2.83 and -1.08 with the
    floor, 0.25 and 0.49 without; pop -1.46 and -1.21, 0.00 and -0.02."""
    planner = bundled_planner()
    log_odds = (planner.model.semantic.drums_evidence[1] - planner.model.semantic.drums_evidence[2]).float()
    for prompt in ("energetic rock riff, no drums at all", "upbeat pop tune without drums"):
        for seed in (0, 1):
            plan = planner.plan(prompt, 20.0, seed=seed, temperature=0, top_k=0)
            mean = float(log_odds[MODES.index(plan.mode)][torch.from_numpy(plan.semantic_tokens)].mean())
            assert mean < -0.5, (prompt, seed, mean)


@functools.cache
def bundled_planner() -> MiniLMPlanner:
    checkpoint = bundled_checkpoint("semantic")
    assert checkpoint is not None, "weights/semantic.safetensors is bundled"
    return MiniLMPlanner(checkpoint, CPU)


def test_the_bundled_model_keeps_the_planned_key() -> None:
    """The tokens' own key (their chroma averaged, against the evaluation's
    key profiles) is the plan's, for prompts whose tokens drifted without
    the key kept (to C major for D minor, to D major for G major, to E major
    for C# minor)."""
    planner = bundled_planner()
    chroma = planner.model.semantic.token_chroma.float().numpy()

    def keys_found(weight: float) -> list[bool]:
        found = []
        old, planner.sampling = planner.sampling, replace(planner.sampling, key_weight=weight)
        try:
            for prompt in ("slow sad classical piano in D minor, no drums please", "happy folk strumming in G major",
                           "i want a moody minor key piano thing, slow, no drums, that ends suddenly"):
                # One seed (each plan costs seconds): with seed 0 and 1 the keeper
                # kept all six keys and without it two of six stayed; with seed 1, none.
                plan = planner.plan(prompt, 30.0, seed=1, temperature=0, top_k=0)
                estimate = key_of_chroma(chroma[plan.semantic_tokens].mean(0))
                found.append(estimate == (plan.key, mode_quality(plan.mode)))
        finally:
            planner.sampling = old
        return found

    kept, drifting = keys_found(planner.sampling.key_weight), keys_found(0.0)
    assert all(kept) and sum(drifting) <= 1, (kept, drifting)


def test_the_bundled_model_borrows_the_other_modes_degrees_where_asked() -> None:
    """Sections asked borrowed chords draw tokens whose chroma lies more on
    the pitch classes the parallel mode brings (the rule-break measure's
    own), by the key keeping's pull towards that mode. Measured when
    written (40 s, C major, flagged choruses minus verses, seeds 0 and 1):
    0.009 and 0.013 without the pull, 0.085 and 0.098 at borrow_weight 30."""
    planner = bundled_planner()
    chroma = planner.model.semantic.token_chroma.float().numpy()
    prompt = "a pop song in C major. [verse] [chorus: borrowed chords] [verse] [chorus: borrowed chords]"

    def flagged_over_the_rest(weight: float) -> float:
        old, planner.sampling = planner.sampling, replace(planner.sampling, borrow_weight=weight)
        try:
            plan = planner.plan(prompt, 40.0, seed=0, temperature=0, top_k=0)
        finally:
            planner.sampling = old
        assert [s.modal_interchange for s in plan.sections] == [False, True, False, True]
        tokens = chroma[plan.semantic_tokens]
        share = tokens[:, borrowed_pitch_classes(plan.key, plan.mode)].sum(1) / tokens.sum(1)
        flagged = np.array([s.modal_interchange for s in plan.sections])[plan.frame_sections]
        return float(share[flagged].mean() - share[~flagged].mean())

    assert planner.sampling.borrow_weight > 0
    asked, unheeded = flagged_over_the_rest(planner.sampling.borrow_weight), flagged_over_the_rest(0.0)
    assert asked > 0.04 and asked > unheeded + 0.03, (asked, unheeded)


def key_of_chroma(mean_chroma: np.ndarray) -> tuple[str, str]:
    scores = {(KEYS[shift], mode): np.corrcoef(mean_chroma, np.roll(profile, shift))[0, 1]
              for mode, profile in PROFILES.items() for shift in range(12)}
    return max(scores, key=scores.get)
