from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open

from hiermusic.services.common.checkpoint import load_checkpoint
from hiermusic.services.semantic.audio_tower import AudioTowerConfig
from hiermusic.services.semantic.text_audio_model import (
    MAX_LOGIT_SCALE,
    TextAudioConfig,
    TextAudioModel,
    agreement,
    retrieval_ranks,
)
from hiermusic.services.semantic.text_tower import TextTowerConfig, encode_sentences

SR = 24000
TINY = TextAudioConfig(
    text=TextTowerConfig(hidden=64),
    audio=AudioTowerConfig(n_mels=32, crop_s=1.0, channels=(32, 32), dim=32, layers=1, heads=2),
    embedding_dim=32,
)
CAPTIONS = ["a low humming drone", "a shrill high whistle", "a hiss of white noise", "a fast ticking click track"]


def sound(kind: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Four easily told apart sounds, each varied by `rng`."""
    t = np.arange(int(seconds * SR)) / SR
    if kind == 0:
        x = np.sin(2 * np.pi * rng.uniform(80, 120) * t + rng.uniform(0, 6))
    elif kind == 1:
        x = np.sin(2 * np.pi * rng.uniform(2500, 3500) * t)
    elif kind == 2:
        x = rng.standard_normal(len(t))
    else:
        x = np.zeros(len(t))
        x[:: int(SR / rng.uniform(8, 12))] = 1.0
    return (0.3 * x).astype(np.float32)


@pytest.fixture(scope="module")
def trained() -> TextAudioModel:
    """The tiny model after 40 steps of matching the four sounds to their captions."""
    torch.manual_seed(0)
    model = TextAudioModel(TINY)
    sentences = encode_sentences(CAPTIONS, model.device)  # [4, 384], frozen
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(40):
        kinds = [0, 1, 2, 3] * 2
        audio = torch.from_numpy(np.stack([sound(k, 1.0, rng) for k in kinds]))  # [8, SR]
        loss = model.info_nce(model.text(sentences[kinds]), model.audio(model.audio.log_mel(audio)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_embeddings_are_unit_vectors_of_any_length(trained: TextAudioModel) -> None:
    text = trained.embed_text(CAPTIONS[:3])
    rng = np.random.default_rng(1)
    batch = trained.embed_audio(np.stack([sound(0, 2.0, rng), sound(1, 2.0, rng)]))  # [B, samples]
    ragged = trained.embed_audio([sound(2, 0.4, rng), sound(3, 3.3, rng), torch.zeros(SR)])
    assert text.shape == (3, 32) and batch.shape == (2, 32) and ragged.shape == (3, 32)
    for e in (text, batch, ragged):
        assert torch.allclose(e.norm(dim=-1), torch.ones(len(e)), atol=1e-5)
    with pytest.raises(ValueError, match="samples"):
        trained.embed_audio(sound(0, 1.0, rng))


def test_info_nce_is_lower_for_matched_than_shuffled_pairs(trained: TextAudioModel) -> None:
    rng = np.random.default_rng(2)
    kinds = [0, 1, 2, 3]
    with torch.no_grad():
        text = trained.embed_text(CAPTIONS)
        audio = trained.embed_audio([sound(k, 1.0, rng) for k in kinds])
        matched = trained.info_nce(text, audio)
        shuffled = trained.info_nce(text, audio[[1, 2, 3, 0]])
    assert matched < shuffled - 0.5


def test_temperature_is_clamped() -> None:
    model = TextAudioModel(TINY)
    with torch.no_grad():
        assert abs(float(model.logit_scale()) - 1 / 0.07) < 1e-3
        model.log_scale.fill_(10.0)
        assert float(model.logit_scale()) == MAX_LOGIT_SCALE


def test_retrieval_ranks_count_better_audios() -> None:
    text = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1.0]])
    audio = torch.eye(3)
    assert retrieval_ranks(text, audio).tolist() == [1, 2, 1]  # a tie (audio 2) does not count against it


def test_agreement_scores_each_piece_against_its_prompt(trained: TextAudioModel) -> None:
    rng = np.random.default_rng(3)
    result = agreement(trained, CAPTIONS, [sound(k, 2.5, rng) for k in range(4)])
    assert len(result["cosine"]) == len(result["rank"]) == result["pairs"] == 4
    assert result["mean_cosine"] == pytest.approx(np.mean(result["cosine"]))
    assert result["recall@1"] >= 0.5 and result["recall@10"] == 1.0
    with pytest.raises(ValueError, match="as many"):
        agreement(trained, CAPTIONS, [])


def test_checkpoint_round_trip_without_minilm(trained: TextAudioModel, tmp_path) -> None:
    path = tmp_path / "ta.safetensors"
    trained.save(path, {"steps": 40, "metrics": {"x": 1.0}})
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
    # Only the projection, the audio tower and the temperature: no MiniLM.
    assert all(k.startswith(("text.proj.", "audio.", "log_scale")) for k in keys)
    assert sum(1 for k in keys if k.startswith("text.")) == 4
    _, card, _ = load_checkpoint(path)
    assert (card.plugin, card.level, card.steps) == ("text_audio_contrastive", "semantic", 40)

    loaded = TextAudioModel.load(path, "cpu")
    assert loaded.config == TINY and not loaded.training
    rng = np.random.default_rng(4)
    audio = [sound(1, 1.7, rng)]
    assert torch.equal(loaded.embed_text(CAPTIONS), trained.embed_text(CAPTIONS))
    assert torch.equal(loaded.embed_audio(audio), trained.embed_audio(audio))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(trained: TextAudioModel, tmp_path) -> None:
    path = tmp_path / "ta.safetensors"
    trained.save(path)
    model = TextAudioModel.load(path, "cuda")
    result = agreement(model, CAPTIONS[:2], [sound(0, 1.0, np.random.default_rng(5))] * 2)
    assert result["pairs"] == 2
