from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from hiermusic.services.semantic.audio_tower import AudioTowerConfig
from hiermusic.services.semantic.text_audio_model import TextAudioConfig, TextAudioModel
from hiermusic.services.semantic.text_audio_training import TextAudioTrainConfig, train_text_audio
from hiermusic.services.semantic.text_tower import TextTowerConfig
from tests.services.resume_checks import (
    assert_matches_uninterrupted,
    assert_refuses_another_architecture,
    checkpoints,
    resume_run,
    run_until_checkpoint,
)
from tests.services.semantic.test_text_audio_model import CAPTIONS, SR, sound
from tests.services.tiny_corpus import user_audio, write_corpus

TINY = TextAudioConfig(
    text=TextTowerConfig(hidden=64),
    audio=AudioTowerConfig(n_mels=32, crop_s=1.0, channels=(32, 32), dim=32, layers=1, heads=2),
    embedding_dim=32,
)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """A corpus of short files: the four sounds, two variants each for
    training, one each for valid and test. Entries are user audio, so
    `audio_for` reads the files back."""
    root = tmp_path_factory.mktemp("ta_corpus")
    rng = np.random.default_rng(0)
    songs = []
    for n, split in enumerate(["train", "train", "valid", "test"]):
        for kind, caption in enumerate(CAPTIONS):
            seconds = rng.uniform(2.0, 3.0)
            songs.append(user_audio(root / f"{split}-{n}-{kind}.wav", sound(kind, seconds, rng), SR, caption,
                                    seconds, n * 4 + kind, split))
    return write_corpus(root, [songs])


def config(steps: int) -> TextAudioTrainConfig:
    return TextAudioTrainConfig(model=TINY, steps=steps, batch=8, lr=3e-3, warmup=5, eval_every=10,
                                checkpoint_every=10, seed=1)


def test_training_resumes_where_it_stopped_and_matches_an_uninterrupted_run(corpus_dir, tmp_path) -> None:
    out = tmp_path / "run"
    first = run_until_checkpoint(train_text_audio, corpus_dir, out, config(30), 20)  # the second checkpoint
    assert any("rendering 16 songs" in line for line in first)
    assert any("valid loss" in line for line in first)
    assert checkpoints(out) == ["step-0000010", "step-0000020"]
    assert load_file(str(out / "checkpoints" / "step-0000020" / "model.optimizer.safetensors"))

    result, second = resume_run(train_text_audio, corpus_dir, out, config(30), 20)
    assert not any("rendering" in line for line in second)  # the mel cache was reused
    assert checkpoints(out) == ["step-0000020", "step-0000030"]

    card = json.loads((out / "text_audio.json").read_text())
    assert card["steps"] == 30 and card["trained"] and card["wall_time_s"] > 0
    assert str(corpus_dir) in card["data"] and "build " in card["data"]
    for name in ("train_loss", "valid_loss", "valid_recall@1", "valid_recall@10", "test_recall@1", "test_recall@10"):
        assert name in card["metrics"], name
    assert card["config"]["training"]["steps"] == 30 and "whole-song" in card["config"]["training"]["retrieval"]

    assert_matches_uninterrupted(train_text_audio, corpus_dir, result, tmp_path / "straight", config(30))
    model = TextAudioModel.load(out / "text_audio.safetensors")
    assert model.config == TINY


def test_training_refuses_a_checkpoint_of_another_architecture(corpus_dir, tmp_path) -> None:
    other = config(20)
    other.model = TextAudioConfig(text=TINY.text, audio=TINY.audio, embedding_dim=16)
    assert_refuses_another_architecture(train_text_audio, corpus_dir, tmp_path / "run", config(10), other)
