from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from corpus import shards
from corpus.user_audio import UserItem, labels_for
from services.semantic.audio_tower import AudioTowerConfig
from services.semantic.text_audio_model import TextAudioConfig, TextAudioModel
from services.semantic.text_audio_training import (
    TextAudioTrainConfig,
    caption_variants,
    learning_rate_schedule,
    train_text_audio,
)
from services.semantic.text_tower import TextTowerConfig
from tests.services.semantic.test_text_audio_model import CAPTIONS, SR, sound

TINY = TextAudioConfig(
    text=TextTowerConfig(hidden=64),
    audio=AudioTowerConfig(n_mels=32, crop_s=1.0, channels=(32, 32), dim=32, layers=1, heads=2),
    embedding_dim=32,
)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """A corpus of short files in the shard layout `data build` writes: the
    four sounds, two variants each for training, one each for valid and test.
    Entries are user audio, so `audio_for` reads the files back."""
    root = tmp_path_factory.mktemp("ta_corpus")
    rng = np.random.default_rng(0)
    songs = []
    for n, split in enumerate(["train", "train", "valid", "test"]):
        for kind, caption in enumerate(CAPTIONS):
            path = root / f"{split}-{n}-{kind}.wav"
            seconds = rng.uniform(2.0, 3.0)
            sf.write(path, sound(kind, seconds, rng), SR)
            labels = labels_for(UserItem(path, caption, seconds, line=n * 4 + kind), seconds)
            songs.append(shards.ShardSong(labels, split, np.zeros((8, 1), np.int16), np.zeros((1, 28), np.float16)))
    shards.write_shard(root, shards.shard_name(0), songs, {})
    (root / "build.json").write_text(json.dumps({"songs": 0, "manifest": "test"}))
    return root


def config(steps: int) -> TextAudioTrainConfig:
    return TextAudioTrainConfig(model=TINY, steps=steps, batch=8, lr=3e-3, warmup=5, eval_every=10,
                                checkpoint_every=10, seed=1)


class Interrupt(Exception):
    pass


def test_learning_rate_warms_up_then_decays() -> None:
    schedule = learning_rate_schedule(TextAudioTrainConfig(steps=100, warmup=10, lr=1.0))
    assert schedule.at(0) == pytest.approx(0.1) and schedule.at(9) == pytest.approx(1.0)
    assert schedule.at(99) == pytest.approx(0.1, abs=1e-3)


def test_composed_songs_get_reworded_captions_with_the_stored_one_first(corpus_dir) -> None:
    from corpus.arranger import arrange
    from corpus.song_spec import compose_spec

    _, labels = arrange(compose_spec(3))
    variants = caption_variants(labels, 6)
    assert variants[0] == labels.caption and 3 <= len(variants) <= 6 and len(set(variants)) == len(variants)
    assert caption_variants(labels, 1) == [labels.caption]
    user = shards.read_index(corpus_dir, shards.shard_name(0))[0][1]
    assert caption_variants(user, 6) == [user.caption]


def test_training_resumes_where_it_stopped_and_matches_an_uninterrupted_run(corpus_dir, tmp_path) -> None:
    out = tmp_path / "run"
    first: list[str] = []

    def stop_after_step_20(line: str) -> None:
        first.append(line)
        if "checkpoint" in line and "step-0000020" in line:
            raise Interrupt  # as if killed right after the second checkpoint

    with pytest.raises(Interrupt):
        train_text_audio(corpus_dir, out, config(30), log=stop_after_step_20)
    assert any("rendering 16 songs" in line for line in first)
    assert any("valid loss" in line for line in first)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000010", "step-0000020"]
    assert load_file(str(out / "checkpoints" / "step-0000020" / "model.optimizer.safetensors"))

    second: list[str] = []
    result = train_text_audio(corpus_dir, out, config(30), log=second.append)
    assert any("resuming" in line and "at step 20" in line for line in second)
    assert not any("rendering" in line for line in second)  # the mel cache was reused
    assert not any(line.startswith("step 10/") for line in second)
    assert result["steps"] == 30
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000020", "step-0000030"]

    card = json.loads((out / "text_audio.json").read_text())
    assert card["steps"] == 30 and card["trained"] and card["wall_time_s"] > 0
    assert str(corpus_dir) in card["data"] and "build " in card["data"]
    for name in ("train_loss", "valid_loss", "valid_recall@1", "valid_recall@10", "test_recall@1", "test_recall@10"):
        assert name in card["metrics"], name
    assert card["config"]["training"]["steps"] == 30 and "whole-song" in card["config"]["training"]["retrieval"]

    # Batches depend on (seed, step) only, so stopping and resuming changes nothing.
    straight = train_text_audio(corpus_dir, tmp_path / "straight", config(30), log=lambda _: None)
    assert straight["steps"] == 30
    resumed, uninterrupted = load_file(str(out / "text_audio.safetensors")), load_file(
        str(tmp_path / "straight" / "text_audio.safetensors"))
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6) for k in resumed)

    model = TextAudioModel.load(out / "text_audio.safetensors")
    assert model.config == TINY


def test_training_refuses_a_checkpoint_of_another_architecture(corpus_dir, tmp_path) -> None:
    out = tmp_path / "run"
    train_text_audio(corpus_dir, out, config(10), log=lambda _: None)
    other = config(20)
    other.model = TextAudioConfig(text=TINY.text, audio=TINY.audio, embedding_dim=16)
    with pytest.raises(ValueError, match="different architecture"):
        train_text_audio(corpus_dir, out, other, log=lambda _: None)
