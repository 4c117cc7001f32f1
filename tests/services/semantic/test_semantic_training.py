from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.build import TOKENIZER_FILE
from hiermusic.corpus.semantic_tokenizer import SemanticTokenizer
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.corpus.token_space import read_tokenizer
from hiermusic.services.common.checkpoint import load_checkpoint, save_checkpoint
from hiermusic.services.common.chunk_layout import semantic_frames
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.music import MODES, SECTION_TYPES
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.services.semantic.planner import PlannerConfig, bar_seconds
from hiermusic.services.semantic.plugin import MiniLMPlanner, MiniLMPlannerConfig, MiniLMPlannerModel, form_conditioning
from hiermusic.services.semantic.semantic_batches import drums_evidence, key_profiles, load_pieces, make_batch
from hiermusic.services.semantic.semantic_model import SemanticConfig, frame_layout
from hiermusic.services.semantic.semantic_training import (
    STREAMS,
    SemanticTrainConfig,
    boundary_head,
    corpus_model_config,
    evaluate,
    train,
)
from hiermusic.services.semantic.text_tower import TextTowerConfig, encode_sentences
from tests.services.resume_checks import (
    assert_matches_uninterrupted,
    assert_refuses_another_architecture,
    checkpoints,
    resume_run,
    run_until_checkpoint,
)
from tests.services.tiny_corpus import untokenized, write_corpus

CPU = torch.device("cpu")
RATE = 12.5
VOCAB = 32
TOKENIZER_ID = "test-kmeans-32-0000"
MAX_FRAMES = 640  # 51 s of each song: the first repeats fall inside it
TINY = MiniLMPlannerConfig(
    text=TextTowerConfig(hidden=64),
    planner=PlannerConfig(hidden=32, decoder=TransformerConfig(dim=32, layers=1, heads=2, max_len=64,
                                                               cross_attention=False)),
    semantic=SemanticConfig(token_space=TokenSpaceConfig(embedding_dim=32),
                            transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=MAX_FRAMES),
                            drums_input=True, key_feedback=True),
)


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def derived_tokens(labels: SongLabels) -> np.ndarray:
    """Tokens that follow the labelled form: section type and beat of the bar."""
    layout = frame_layout([s.start_s for s in labels.sections], [s.end_s for s in labels.sections],
                          bar_seconds(labels.tempo_bpm), semantic_frames(labels.duration_s, RATE), RATE)
    types = torch.tensor([SECTION_TYPES.index(s.type) for s in labels.sections])
    return (4 * types[layout.frame_sections] + (layout.bar_position * 4).long()).numpy()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """The shard layout `data build` writes, with real composed songs' labels
    (five train, two valid, one test), their derived semantic tokens, and a
    user file without tempo or sections that the trainer must skip."""
    root = tmp_path_factory.mktemp("semantic_corpus")
    songs, tokens = [], {}
    for seed, split in enumerate(["train"] * 5 + ["valid", "valid", "test"]):
        _, labels = arrange(compose_spec(seed))
        tokens[labels.song_id] = derived_tokens(labels)
        songs.append(untokenized(labels, split))
    user = SongLabels("user-0000000", "user", "a field recording of rain", 10.0)
    tokens[user.song_id] = np.zeros(125, np.int64)
    songs.append(untokenized(user, "train"))
    return write_corpus(root, [songs], tokens, TOKENIZER_ID, VOCAB)


def config(steps: int, **changes) -> SemanticTrainConfig:
    settings = dict(model=TINY, steps=steps, batch=4, lr=3e-3, warmup=5, eval_every=20, checkpoint_every=10, seed=1)
    return SemanticTrainConfig(**(settings | changes))


@pytest.fixture(scope="module")
def trained(corpus_dir, tmp_path_factory) -> tuple[Path, list[str], dict]:
    out = tmp_path_factory.mktemp("semantic_run")
    lines: list[str] = []
    result = train(corpus_dir, out, config(100, checkpoint_every=50), log=lines.append)
    return out, lines, result


def test_batches_condition_the_transformer_as_a_served_plan_does(corpus_dir) -> None:
    model_config = corpus_model_config(TINY, read_tokenizer(corpus_dir))
    model = MiniLMPlannerModel(model_config)
    pieces = load_pieces(corpus_dir, model.planner, RATE, MAX_FRAMES, read_tokenizer(corpus_dir), lambda _: None)
    assert len(pieces) == 8 and all(p.labels.source == "synthetic" for p in pieces)
    piece = next(p for p in pieces if len(p.repeats))
    # The plan of the labels: energy on the planner's bins, repeats at the first section of a type.
    assert all(s.energy in (0.0, 0.25, 0.5, 0.75, 1.0) for s in piece.form.sections)
    assert [s.repeat_of for s in piece.form.sections] == [
        [x.type for x in piece.form.sections].index(s.type) for s in piece.form.sections]

    text = torch.nn.functional.normalize(torch.randn(2, 32), dim=-1)
    batch = make_batch([pieces[0], piece], text, model.planner)
    served = form_conditioning(text[1:], piece.form, len(piece.tokens), RATE)
    t, s = len(piece.tokens), len(piece.form.sections)
    for name in ("frame_sections", "section_position", "bar_position"):
        assert torch.equal(getattr(batch.cond, name)[1, :t], getattr(served, name)[0]), name
    assert torch.equal(batch.cond.section_types[1, :s], served.section_types[0])
    assert torch.equal(batch.cond.section_energy[1, :s], served.section_energy[0])
    assert batch.cond.tempo_bpm[1] == served.tempo_bpm[0] and batch.cond.key[1] == served.key[0]
    assert int(batch.frame_mask[1].sum()) == t and (batch.token_targets[1, t:] == -100).all()

    # Boundaries: the first frame of each section the prefix reaches, but the first.
    starts = served.frame_sections[0]
    assert torch.equal(piece.boundary.nonzero()[:, 0], (starts[1:] != starts[:-1]).nonzero()[:, 0] + 1)
    # Repeat pairs: the same offset into the repeat and into the section it brings back.
    first_frame = {int(k): int((starts == k).nonzero()[0]) for k in starts.unique()}
    for again, first in piece.repeats.tolist():
        i, j = int(starts[again]), int(starts[first])
        assert piece.labels.sections[i].repeat_of == j
        assert again - first_frame[i] == first - first_frame[j]


def test_losses_fall_on_a_short_overfit(corpus_dir, trained) -> None:
    out, lines, _ = trained
    assert any("skipped songs without a whole plan: 1" in line for line in lines)
    assert any(line.startswith("step 100/100 loss") and "steps/s" in line for line in lines)

    tokenizer = read_tokenizer(corpus_dir)
    model_config = corpus_model_config(TINY, tokenizer)
    torch.manual_seed(1)  # the trainer's initial weights
    model, head = MiniLMPlannerModel(model_config), boundary_head(model_config)
    pieces = load_pieces(corpus_dir, model.planner, RATE, MAX_FRAMES, tokenizer, lambda _: None)
    train_set = [p for p in pieces if p.split == "train"]
    sentences = encode_sentences([p.labels.caption for p in train_set], CPU)
    before = evaluate(model, head, train_set, sentences, 4)

    step_dir = out / "checkpoints" / "step-0000100"
    model.load_state_dict(load_checkpoint(step_dir / "model.safetensors")[0])
    head.load_state_dict(load_checkpoint(step_dir / "boundary.safetensors")[0])
    after = evaluate(model, head, train_set, sentences, 4)
    unigram = json.loads((out / "semantic.json").read_text())["metrics"]
    for name in STREAMS:
        assert after[f"{name}_ce"] < before[f"{name}_ce"], name
    for name in ("section_type", "semantic", "boundary"):
        assert after[f"{name}_ce"] < unigram[f"unigram_{name}_ce"], name
    assert after["repeat_distance"] < before["repeat_distance"]
    assert after["section_type_accuracy"] > before["section_type_accuracy"]


def test_the_card_holds_metrics_and_the_plugin_serves_the_checkpoint(corpus_dir, trained) -> None:
    out, _, result = trained
    assert result["checkpoint"] == str(out / "semantic.safetensors") and result["steps"] == 100
    card = json.loads((out / "semantic.json").read_text())
    assert (card["plugin"], card["level"], card["trained"], card["steps"]) == ("minilm_planner", "semantic", True, 100)
    assert card["version"].startswith("minilm_planner-0.1-") and card["wall_time_s"] > 0
    assert str(corpus_dir) in card["data"] and TOKENIZER_ID in card["data"]
    assert card["token_space"]["semantic_tokenizer_id"] == TOKENIZER_ID
    assert card["token_space"]["semantic_vocab_size"] == VOCAB and card["token_space"]["embedding_dim"] == 32
    assert card["config"]["training"]["steps"] == 100 and card["config"]["training"]["device"] == "cpu"
    metrics = card["metrics"]
    for name in STREAMS:
        for split in ("unigram", "valid", "test"):
            assert f"{split}_{name}_ce" in metrics, f"{split}_{name}_ce"
    for name in ("section_type_accuracy", "tempo_within_5pct", "mode_accuracy", "key_accuracy"):
        assert 0.0 <= metrics[f"valid_{name}"] <= 1.0 and f"test_{name}" in metrics
    assert metrics["unigram_semantic_ce"] > 0 and metrics["valid_semantic_ce"] < metrics["unigram_semantic_ce"]

    plugin = MiniLMPlanner(out / "semantic.safetensors", CPU)
    info = plugin.info()
    assert info.trained and info.model_version == card["version"]
    assert info.token_space.semantic_tokenizer_id == TOKENIZER_ID and info.token_space.semantic_vocab_size == VOCAB
    plan = plugin.plan("an upbeat pop song at 120 bpm in D minor", 8.0, seed=0, temperature=0, top_k=0)
    assert (plan.tempo_bpm, plan.key, plan.mode) == (120.0, "D", "minor")
    assert plan.semantic_tokens.shape == (100,)
    assert 0 <= plan.semantic_tokens.min() and plan.semantic_tokens.max() < VOCAB
    assert plan.sections[0].start_s == 0.0 and plan.sections[-1].end_s == 8.0
    assert plan.section_embeddings.shape == (len(plan.sections), 32)


def test_training_resumes_where_it_stopped_and_matches_an_uninterrupted_run(corpus_dir, tmp_path) -> None:
    out = tmp_path / "run"
    run_until_checkpoint(train, corpus_dir, out, config(30), 20)  # the second checkpoint
    assert checkpoints(out) == ["step-0000010", "step-0000020"]
    step_files = {p.name for p in (out / "checkpoints" / "step-0000020").iterdir()}
    assert {"model.safetensors", "boundary.safetensors", "model.optimizer.safetensors"} <= step_files

    result, _ = resume_run(train, corpus_dir, out, config(30), 20)
    assert_matches_uninterrupted(train, corpus_dir, result, tmp_path / "straight", config(30))


def test_drums_evidence_is_the_share_of_each_tokens_frames_with_and_without_drums(corpus_dir) -> None:
    planner = MiniLMPlannerModel(corpus_model_config(TINY, read_tokenizer(corpus_dir))).planner
    pieces = load_pieces(corpus_dir, planner, RATE, MAX_FRAMES, read_tokenizer(corpus_dir), lambda line: None)
    evidence = drums_evidence(pieces, VOCAB)
    assert evidence.shape == (3, len(MODES), VOCAB) and not evidence[0].any()
    torch.testing.assert_close(evidence[1].exp() + evidence[2].exp(), torch.ones(len(MODES), VOCAB))
    mode = int(pieces[0].global_ids[2])
    ours = [p for p in pieces if int(p.global_ids[2]) == mode]  # the table is per mode
    with_drums = torch.cat([p.tokens for p in ours if p.labels.drums] + [torch.zeros(0, dtype=torch.long)])
    without = torch.cat([p.tokens for p in ours if p.labels.drums is False] + [torch.zeros(0, dtype=torch.long)])
    token = int(pieces[0].tokens[0])
    a, b = int((with_drums == token).sum()), int((without == token).sum())
    assert a + b > 0
    assert float(evidence[1, mode, token].exp()) == pytest.approx((a + 0.5) / (a + b + 1.0), rel=1e-5)


def test_key_profiles_are_each_modes_mean_token_chroma_turned_to_c(corpus_dir, trained) -> None:
    planner = MiniLMPlannerModel(corpus_model_config(TINY, read_tokenizer(corpus_dir))).planner
    pieces = load_pieces(corpus_dir, planner, RATE, MAX_FRAMES, read_tokenizer(corpus_dir), lambda line: None)
    chroma = torch.rand(VOCAB, 12, generator=torch.Generator().manual_seed(0))
    profiles = key_profiles(pieces, chroma)
    mode = int(pieces[0].global_ids[2])
    ours = [p for p in pieces if int(p.global_ids[2]) == mode]
    want = torch.stack([torch.roll(chroma[p.tokens].mean(0), -int(p.global_ids[1])) for p in ours]).mean(0)
    torch.testing.assert_close(profiles[mode], want)
    absent = [m for m in range(len(MODES)) if all(int(p.global_ids[2]) != m for p in pieces)]
    assert all(not profiles[m].any() for m in absent)
    # The trained model holds the corpus tokenizer's chroma and the training songs' profiles.
    out, _, _ = trained
    state, _, _ = load_checkpoint(out / "semantic.safetensors")
    from_tokenizer = torch.from_numpy(SemanticTokenizer.load(corpus_dir / TOKENIZER_FILE).centroid_chroma())
    torch.testing.assert_close(state["semantic.token_chroma"].float(), from_tokenizer)
    train_songs = [p for p in pieces if p.split == "train"]
    torch.testing.assert_close(state["semantic.key_profiles"].float(), key_profiles(train_songs, from_tokenizer))


def test_a_warm_start_begins_from_the_weights_and_its_cards_say_so(corpus_dir, trained, tmp_path) -> None:
    """A run started from an older model without the drums input: the card of
    every checkpoint, resumed or not, names the weights it began from."""
    old, _, _ = trained
    state, card, _ = load_checkpoint(old / "semantic.safetensors")
    served = corpus_model_config(TINY, read_tokenizer(corpus_dir))
    before = MiniLMPlannerModel(replace(served, semantic=replace(served.semantic, drums_input=False)))
    before.load_state_dict({k: v for k, v in state.items() if not k.startswith("semantic.drums")})
    save_checkpoint(before, card, tmp_path / "old.safetensors")
    out, lines = tmp_path / "warm", []
    run_until_checkpoint(train, corpus_dir, out, config(20, init_checkpoint=str(tmp_path / "old.safetensors")), 10)
    result = train(corpus_dir, out, config(20, init_checkpoint=str(tmp_path / "old.safetensors")), log=lines.append)
    assert any("resuming" in line for line in lines)
    made = json.loads((out / "semantic.json").read_text())["config"]["training"]["init_from"]
    assert (made["version"], made["steps"]) == (card.version, 100) and result["steps"] == 20

    fresh = []
    train(corpus_dir, tmp_path / "again", config(1, init_checkpoint=str(tmp_path / "old.safetensors")),
          log=fresh.append)
    assert "new here: semantic.drums.weight" in next(line for line in fresh if "starting from" in line)


def test_training_refuses_a_checkpoint_of_another_architecture(corpus_dir, tmp_path) -> None:
    other = config(20)
    other.model = MiniLMPlannerConfig(text=TINY.text, planner=PlannerConfig(hidden=48, decoder=TINY.planner.decoder),
                                      semantic=TINY.semantic)
    assert_refuses_another_architecture(train, corpus_dir, tmp_path / "run", config(10), other)


def test_a_text_audio_projection_is_loaded_and_stays_frozen(corpus_dir, tmp_path) -> None:
    from hiermusic.services.semantic.audio_tower import AudioTowerConfig
    from hiermusic.services.semantic.text_audio_model import TextAudioConfig, TextAudioModel

    audio = AudioTowerConfig(n_mels=32, crop_s=1.0, channels=(32, 32), dim=32, layers=1, heads=2)
    joint = TextAudioModel(TextAudioConfig(text=TINY.text, audio=audio, embedding_dim=32))
    joint.save(tmp_path / "text_audio.safetensors", {"trained": True})
    train(corpus_dir, tmp_path / "run", config(10, text_audio=str(tmp_path / "text_audio.safetensors")),
          log=lambda _: None)
    state = load_file(str(tmp_path / "run" / "semantic.safetensors"))
    for name, value in joint.text.state_dict().items():
        assert torch.equal(state[f"text.{name}"], value), name

    wider = TextAudioModel(TextAudioConfig(text=TINY.text, audio=audio, embedding_dim=16))
    wider.save(tmp_path / "wider.safetensors")
    with pytest.raises(ValueError, match="text tower"):
        train(corpus_dir, tmp_path / "other", config(10, text_audio=str(tmp_path / "wider.safetensors")),
              log=lambda _: None)
