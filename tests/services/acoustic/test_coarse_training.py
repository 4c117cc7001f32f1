from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hiermusic.corpus.token_space import corpus_token_space
from hiermusic.corpus.chunked_songs import Chunking, load_songs
from hiermusic.services.acoustic import coarse_training
from hiermusic.services.acoustic.coarse_model import CoarseConfig
from hiermusic.services.acoustic.coarse_training import CoarseTrainConfig
from hiermusic.services.common.bootstrap import LevelConfig, build_plugin
from hiermusic.services.common.checkpoint import load_checkpoint
from hiermusic.services.common.chunk_context import decode_context
from hiermusic.services.common.chunk_layout import chunk_context
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.services.semantic.label_plans import SemanticPlanConditioner
from tests.services.acoustic.conftest import (
    CHUNK_S,
    CODEBOOK_SIZE,
    COLOURS,
    HOP,
    OVERLAP,
    OVERLAP_S,
    TOKENIZER,
    colour_of,
    pattern,
)
from tests.services.chunk_trainers import as_the_cli_runs
from tests.services.resume_checks import assert_matches_uninterrupted, checkpoints, resume_run, run_until_checkpoint

train = as_the_cli_runs(coarse_training.train)
MARGIN_S = 0.16
TINY = CoarseConfig(token_space=TokenSpaceConfig(codebook_size=CODEBOOK_SIZE, summary_dim=64),
                    transformer=TransformerConfig(dim=64, layers=2, heads=4, max_len=64))


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def config(steps: int, **changes) -> CoarseTrainConfig:
    settings = dict(model=TINY, steps=steps, batch=8, chunks=3, chunk_s=CHUNK_S, overlap_s=OVERLAP_S,
                    semantic_margin_s=MARGIN_S, lr=5e-3, warmup=10, eval_every=1000, checkpoint_every=1000, seed=1)
    return CoarseTrainConfig(**settings | changes)


@pytest.fixture(scope="module")
def trained(corpus_dir, tmp_path_factory) -> tuple[Path, dict, list[str]]:
    out = tmp_path_factory.mktemp("coarse_run")
    lines: list[str] = []
    result = train(corpus_dir, out, config(200), log=lines.append)
    return out, result, lines


def test_the_defaults_chunk_as_the_scheduler_does() -> None:
    from hiermusic.orchestrator.config import SchedulerConfig

    defaults, scheduler = CoarseTrainConfig(), SchedulerConfig()
    assert (defaults.chunk_s, defaults.overlap_s, defaults.semantic_margin_s) == (
        scheduler.chunk_s, scheduler.overlap_s, scheduler.semantic_margin_s)


def test_training_beats_the_unigram_baseline_and_the_summaries_carry_context(trained) -> None:
    out, result, lines = trained
    m = result["metrics"]
    assert result["steps"] == 200 and result["steps_per_s"] > 0
    assert any(line.startswith("step 200/200 loss") and "steps/s" in line for line in lines)
    assert any("valid ce cb0" in line and "unigram" in line for line in lines)
    for k in (0, 1):
        # The codes follow the plan and the song: far below what frequencies alone give.
        assert m[f"unigram_cb{k}"] > 3.0
        assert m[f"valid_ce_cb{k}"] < 0.05 * m[f"unigram_cb{k}"], m
        assert m[f"test_ce_cb{k}"] < 0.05 * m[f"unigram_cb{k}"], m
    # A chunk's colour is only known from the chunk before: without the
    # summaries every chunk has to guess it again.
    assert m["valid_ce_no_summary"] > m["valid_ce"] + 0.03, m
    assert m["test_ce_no_summary"] > m["test_ce"] + 0.03, m
    assert 0 <= m["valid_continuity"] < 0.02 and 0 <= m["train_continuity"] < 0.05


def test_the_card_says_what_was_trained_on_what(trained, corpus_dir) -> None:
    out, result, _ = trained
    assert result["checkpoint"] == str(out / "acoustic.safetensors")
    card = json.loads((out / "acoustic.json").read_text())
    assert (card["plugin"], card["level"], card["trained"]) == ("coarse_transformer", "acoustic", True)
    assert card["steps"] == 200
    assert card["version"].startswith("coarse_transformer-0.1-") and card["wall_time_s"] > 0
    assert str(corpus_dir) in card["data"] and TOKENIZER in card["data"]
    # The token space names the corpus's tokenizer; loaders rebuild the model from the config.
    assert card["token_space"]["semantic_tokenizer_id"] == TOKENIZER
    assert card["token_space"] == card["config"]["token_space"]
    assert card["config"]["transformer"] == asdict(TINY.transformer)
    training = card["config"]["training"]
    assert training["chunks"] == 3 and training["plan_embeddings"].startswith("minilm_planner-untrained-")
    for name in ("unigram_cb0", "valid_ce_cb0", "valid_ce_cb1", "valid_ce_no_summary", "valid_continuity",
                 "test_ce_cb0", "test_ce_cb1", "test_continuity", "train_loss"):
        assert name in card["metrics"], name


def test_the_served_plugin_continues_what_the_chunk_before_chose(trained, corpus_dir) -> None:
    """`serve acoustic --checkpoint` builds the plugin this way; each chunk's
    request context is made and decoded as the scheduler and service do."""
    out, _, _ = trained
    plugin = build_plugin(LevelConfig("acoustic", checkpoint=out / "acoustic.safetensors", device="cpu"))
    info = plugin.info()
    assert info.trained and info.model_version.startswith("coarse_transformer-0.1-")
    assert info.token_space.semantic_tokenizer_id == TOKENIZER

    space = plugin.token_space
    conditioner = SemanticPlanConditioner(None, space, torch.device("cpu"))
    chunking = Chunking(HOP + OVERLAP, OVERLAP, MARGIN_S)
    songs = [s for s in load_songs(corpus_dir, space, chunking, conditioner, print) if s.split == "valid"]
    planned = np.arange(HOP + OVERLAP) % HOP < OVERLAP  # frames the plan decides; the others carry the colour
    carried, guessed = [], []
    for song in songs:
        def context(n: int):
            return decode_context(chunk_context(song.plan, song.chunks[n], space, MARGIN_S), space, plugin.max_frames)

        truth = pattern(colour_of(song.song_id, corpus_dir))[:, : HOP + OVERLAP]
        # Chunk 0 is shown the song's colour in a prefix; chunk 1 can only learn it from chunk 0.
        first, summary = plugin.generate(context(0), None, truth[:, : OVERLAP + 1], seed=3, temperature=1.0, top_k=1)
        assert first.shape == (2, HOP + OVERLAP) and summary.shape == (space.summary_tokens, space.summary_dim)
        assert np.array_equal(first, truth), "chunk 0 follows the plan and keeps the colour it was shown"
        second, _ = plugin.generate(context(1), summary, first[:, HOP:], seed=4, temperature=1.0, top_k=1)
        assert np.array_equal(second[:, :OVERLAP], first[:, HOP:])  # the prefix is kept as given
        assert np.array_equal(second[:, planned], truth[:, planned])
        carried.append(np.array_equal(second[:, ~planned], truth[:, ~planned]))
        alone, _ = plugin.generate(context(1), None, first[:, HOP:], seed=4, temperature=1.0, top_k=1)
        guessed.append(np.array_equal(alone[:, ~planned], truth[:, ~planned]))
    assert sum(carried) >= len(songs) - 1, f"the summary carries the song's colour into the next chunk: {carried}"
    assert sum(guessed) <= len(songs) // 2, f"without the summary the colour is a guess: {guessed}"


def test_training_resumes_where_it_stopped_and_matches_an_uninterrupted_run(corpus_dir, tmp_path) -> None:
    out = tmp_path / "run"
    short = config(12, checkpoint_every=6, eval_every=6)
    run_until_checkpoint(train, corpus_dir, out, short, 6)  # the first checkpoint
    assert checkpoints(out) == ["step-0000006"]
    assert load_file(str(out / "checkpoints" / "step-0000006" / "model.optimizer.safetensors"))

    result, _ = resume_run(train, corpus_dir, out, short, 6)
    assert_matches_uninterrupted(train, corpus_dir, result, tmp_path / "straight", short)


def test_the_token_space_is_the_corpus_s(corpus_dir) -> None:
    space = corpus_token_space(CoarseConfig().token_space, corpus_dir)
    assert (space.semantic_tokenizer_id, space.semantic_vocab_size) == (TOKENIZER, 64)
    assert space.codec_id == TokenSpaceConfig().codec_id  # the test shards name no codec


def test_a_drums_table_is_each_codes_share_of_frames_with_and_without_drums(trained, corpus_dir, tmp_path) -> None:
    """Every run counts it from its training songs; a run of no steps from
    trained weights, as made the bundled table, changes nothing else. The
    colour codes (100 + colour) come only in songs of their colour, which
    have drums when the colour is odd; the section codes in all."""
    out = tmp_path / "run"
    given = trained[0] / "acoustic.safetensors"
    train(corpus_dir, out, config(0, init_checkpoint=str(given)), log=lambda line: None)
    state, card, _ = load_checkpoint(out / "acoustic.safetensors")
    assert card.steps == 0
    assert "valid_ce" in card.metrics and "test_ce" in card.metrics, "a run of no steps still validates"
    before, _, _ = load_checkpoint(given)
    assert all(torch.equal(before[k], state[k]) for k in before), "the weights are the given ones"
    evidence = state["drums_evidence"].float()  # [codebooks, 3, V]
    assert evidence.shape == (2, 3, CODEBOOK_SIZE) and not evidence[:, 0].any()
    p_drums = evidence[0, 1].exp()
    # Two training songs a colour with 48 frames of it each, against half a frame of smoothing.
    assert all(p_drums[100 + c] > 0.95 for c in range(1, COLOURS, 2))
    assert all(p_drums[100 + c] < 0.05 for c in range(0, COLOURS, 2))
    assert all(0.4 < p_drums[c] < 0.6 for c in range(10, 18))  # the sections' codes: in every song alike
    torch.testing.assert_close(evidence[:, 1].exp() + evidence[:, 2].exp(), torch.ones(2, CODEBOOK_SIZE),
                               atol=2e-3, rtol=0)
    torch.testing.assert_close(evidence[1, 1, 200:216], evidence[0, 1, 100:116])  # codebook 2: codebook 1 + 100
