from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from hiermusic.corpus.codec_tokens import load_codec
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeConfig, StftMagnitudeModel
from hiermusic.services.temporal.codec_training import CodecTrainConfig, band_weights, excerpts, random_crops, train
from tests.services.resume_checks import (
    assert_matches_uninterrupted,
    assert_refuses_another_architecture,
    checkpoints,
    resume_run,
    run_until_checkpoint,
)
from tests.services.tiny_corpus import user_audio, write_corpus

SR = 24000
TINY = StftMagnitudeConfig(dimension=32, codebook_size=64, encoder_dim=32, encoder_layers=1, decoder_dim=32,
                           decoder_layers=1)


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def notes(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A few harmonic notes with decaying envelopes over a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    out = 0.01 * rng.standard_normal(len(t))
    for start in np.arange(0, seconds, 0.25):
        f0, on = rng.uniform(110, 880), t >= start
        env = np.exp(-(t - start) * 6) * on
        out += sum(0.2 / h * np.sin(2 * np.pi * h * f0 * t) for h in (1, 2, 3)) * env
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """A corpus of short files: four training songs, two valid and two test.
    Entries are user audio, so `audio_for` reads the files back."""
    root = tmp_path_factory.mktemp("codec_corpus")
    rng = np.random.default_rng(0)
    songs = []
    for n, split in enumerate(["train"] * 4 + ["valid"] * 2 + ["test"] * 2):
        seconds = 3.0 if split == "train" else 1.5
        songs.append(user_audio(root / f"{split}-{n}.wav", notes(seconds, rng), SR, f"notes {n}", seconds, n, split))
    return write_corpus(root, [songs])


def config(steps: int, **changes) -> CodecTrainConfig:
    settings = dict(model=TINY, steps=steps, batch=4, crop_s=0.4, lr=3e-3, warmup=5, log_every=5, eval_every=10,
                    checkpoint_every=10, seconds_per_song=2.0, eval_songs=2, eval_clip_s=1.0, listen_clips=1, seed=1,
                    dead_code_below=1.0)  # high enough that codes restart within a few steps
    return CodecTrainConfig(**settings | changes)


def test_excerpts_are_bounded_and_spread_over_the_song() -> None:
    song = np.arange(100, dtype=np.float32)
    pieces = excerpts(song, 30, 3)
    assert [len(p) for p in pieces] == [10, 10, 10]
    assert [p[0] for p in pieces] == [11, 45, 78]  # centred at 1/6, 1/2 and 5/6 of the song
    assert excerpts(song[:20], 30, 3)[0].tolist() == song[:20].tolist()


def test_crops_come_from_every_piece_fill_short_ones_and_depend_on_the_generator_only() -> None:
    pieces = [torch.full((1000,), 1000, dtype=torch.int16), torch.full((100,), 2000, dtype=torch.int16)]
    crops = random_crops(pieces, 64, 200, 0.0, torch.Generator().manual_seed(0))
    assert crops.shape == (64, 1, 200)
    levels = set(np.round(crops[:, 0, 0].numpy() * 32767).astype(int).tolist())
    assert levels == {1000, 2000}  # the short piece is repeated to a whole crop
    again = random_crops(pieces, 64, 200, 6.0, torch.Generator().manual_seed(3))
    assert torch.equal(again, random_crops(pieces, 64, 200, 6.0, torch.Generator().manual_seed(3)))
    assert (again.abs().amax(dim=(1, 2)) > 1000 / 32767).any()  # gain goes up as well as down


def test_loss_falls_when_overfitting(corpus_dir, tmp_path) -> None:
    lines: list[str] = []
    train(corpus_dir, tmp_path / "run", config(60, quantizer_dropout=0.0, eval_every=60, checkpoint_every=60),
          log=lines.append)
    mel = {int(m[1]): float(m[2]) for line in lines if (m := re.search(r"step (\d+)/60 .*mel_l1 (\S+)", line))}
    assert mel[60] < 0.85 * mel[5], mel


def test_training_resumes_where_it_stopped_and_matches_an_uninterrupted_run(corpus_dir, tmp_path) -> None:
    out = tmp_path / "run"
    first = run_until_checkpoint(train, corpus_dir, out, config(30), 20)  # the second checkpoint
    assert any("rendering 8 songs" in line for line in first)
    assert any(line.startswith("step 10 valid si_snr_db_8") for line in first)
    assert checkpoints(out) == ["step-0000010", "step-0000020"]
    assert load_file(str(out / "checkpoints" / "step-0000020" / "model.optimizer.safetensors"))

    result, second = resume_run(train, corpus_dir, out, config(30), 20)
    assert not any("rendering" in line for line in second)  # the audio cache was reused
    for lines in (first, second):  # so the comparison below covers dead-code restarts too
        assert any(int(m[1]) > 0 for line in lines if (m := re.search(r"codes restarted (\d+)", line)))
    assert result["checkpoint"] == str(out / "codec.safetensors")

    card = json.loads((out / "codec.json").read_text())
    assert (card["plugin"], card["level"]) == ("stft_magnitude", "codec")
    assert card["version"].startswith("stft_magnitude-30-") and len(card["version"]) == len("stft_magnitude-30-") + 8
    assert card["steps"] == 30 and card["trained"] and card["wall_time_s"] > 0
    assert str(corpus_dir) in card["data"] and "build " in card["data"]
    assert card["config"]["decoder_dim"] == 32 and card["config"]["training"]["steps"] == 30
    assert card["token_space"]["codec_id"] == "seanet-small-24k" and card["token_space"]["frame_rate"] == 50.0
    for split in ("valid", "test"):
        for k in (8, 2):
            for name in ("si_snr_db", "mel_distance"):
                assert np.isfinite(card["metrics"][f"{split}_{name}_{k}"]), (split, name, k)
    assert card["metrics"]["train_mel_l1"] > 0
    listen = sorted(p.name for p in (out / "listen").iterdir())
    assert len(listen) == 3 and {n.rsplit("-", 1)[1] for n in listen} == {"original.wav", "8cb.wav", "2cb.wav"}
    assert all(sf.info(out / "listen" / n).frames == SR for n in listen)

    # Batches, level counts and k-means depend on (seed, step) only, so stopping and resuming changes nothing.
    assert_matches_uninterrupted(train, corpus_dir, result, tmp_path / "straight", config(30))


def test_the_trained_checkpoint_loads_through_the_codec_plugin(corpus_dir, tmp_path) -> None:
    train(corpus_dir, tmp_path / "run", config(10), log=lambda _: None)
    codec = load_codec("stft_magnitude", tmp_path / "run" / "codec.safetensors")
    assert codec.trained and codec.version.startswith("stft_magnitude-10-")
    assert codec.model.config == TINY
    assert (codec.sample_rate, codec.frame_rate, codec.codebooks, codec.codebook_size) == (SR, 50.0, 8, 64)
    wav = torch.from_numpy(notes(1.0, np.random.default_rng(5)))[None, None]  # [1, 1, SR]
    codes = codec.encode(wav)
    assert codes.shape == (1, 8, 50) and 0 <= int(codes.min()) and int(codes.max()) < 64
    assert codec.decode(codes).shape == codec.decode(codes[:, :2]).shape == (1, 1, SR)


def test_training_refuses_a_checkpoint_of_another_architecture(corpus_dir, tmp_path) -> None:
    other = config(20)
    other.model = replace(TINY, decoder_dim=16)
    assert_refuses_another_architecture(train, corpus_dir, tmp_path / "run", config(10), other)


def test_a_decoder_trained_again_keeps_the_codes_and_the_token_space(corpus_dir, tmp_path) -> None:
    train(corpus_dir, tmp_path / "first", config(10), log=lambda _: None)
    first = tmp_path / "first" / "codec.safetensors"
    lines: list[str] = []
    train(corpus_dir, tmp_path / "again", config(10, init_checkpoint=str(first), decoder_only=True,
                                                 low_band_weight=20.0, chroma_weight=1.0), log=lines.append)
    before, after = load_codec("stft_magnitude", first), load_codec("stft_magnitude", tmp_path / "again" / "codec.safetensors")
    assert any(line.startswith(f"starting from {first}") for line in lines)
    assert any("chroma_l1" in line for line in lines)  # the chroma term is trained on and logged
    assert not any("k-means" in line for line in lines) and all("codes restarted 0" in line
                                                                 for line in lines if "codes restarted" in line)
    assert after.digest != before.digest and after.codec_id == before.codec_id
    for part in ("encoder", "quantizer"):
        old, new = getattr(before.model, part).state_dict(), getattr(after.model, part).state_dict()
        assert all(torch.equal(old[k], new[k]) for k in old), part
    assert not all(torch.equal(v, after.model.decoder.state_dict()[k]) for k, v in before.model.decoder.state_dict().items())
    wav = torch.from_numpy(notes(1.0, np.random.default_rng(5)))[None, None]
    assert torch.equal(before.encode(wav), after.encode(wav))
    card = json.loads((tmp_path / "again" / "codec.json").read_text())
    assert card["config"]["training"]["init_from"]["checkpoint"] == str(first)

    # A whole codec trained on from a checkpoint keeps its codebooks too: no k-means over them.
    lines.clear()
    train(corpus_dir, tmp_path / "whole", config(2, init_checkpoint=str(first)), log=lines.append)
    assert any(line.startswith(f"starting from {first}") for line in lines)
    assert not any("k-means" in line for line in lines)


def test_refitting_the_fine_codebooks_keeps_the_coarse_codes_and_makes_another_token_space(corpus_dir,
                                                                                          tmp_path) -> None:
    train(corpus_dir, tmp_path / "first", config(10), log=lambda _: None)
    first = tmp_path / "first" / "codec.safetensors"
    lines: list[str] = []
    train(corpus_dir, tmp_path / "smooth", config(10, model=replace(TINY, fine_smoothing=3), init_checkpoint=str(first),
                                                  decoder_only=True, refit_fine_codebooks=True, kmeans_crops=8),
          log=lines.append)
    before, after = load_codec("stft_magnitude", first), load_codec("stft_magnitude", tmp_path / "smooth" / "codec.safetensors")
    assert any("codebooks of levels 3-8 fitted by k-means on 8 crops (the fine levels' residual smoothed over 3 "
               "frames)" in line for line in lines)
    assert after.codec_id != before.codec_id and after.model.config.fine_smoothing == 3
    old, new = before.model.state_dict(), after.model.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old if k.startswith("encoder."))
    for level, layer in enumerate(after.model.quantizer.vq.layers):
        key = f"quantizer.vq.layers.{level}._codebook.embed"
        assert torch.equal(old[key], new[key]) == (level < 2), level
    wav = torch.from_numpy(notes(2.0, np.random.default_rng(5)))[None, None]
    codes_before, codes_after = before.encode(wav), after.encode(wav)
    assert torch.equal(codes_before[:, :2], codes_after[:, :2])
    assert not torch.equal(codes_before[:, 2:], codes_after[:, 2:])


def test_decoder_only_needs_a_codec_to_start_from() -> None:
    with pytest.raises(ValueError, match="give init_checkpoint"):
        config(10, decoder_only=True)
    with pytest.raises(ValueError, match="refit_fine_codebooks keeps the encoder"):
        config(10, refit_fine_codebooks=True, init_checkpoint="codec.safetensors")


def test_the_low_band_weighs_more_and_the_mean_weight_stays_one() -> None:
    model = StftMagnitudeModel(TINY)
    weights = band_weights(model, config(1, low_band_weight=20.0))
    freqs = torch.fft.rfftfreq(model.decoder.n_fft, 1 / SR)
    assert weights.shape == (len(freqs), 1) and abs(float(weights.mean()) - 1.0) < 1e-6
    assert float(weights[freqs < 500].min()) == pytest.approx(20 * float(weights[freqs >= 500].max()))
    assert band_weights(model, config(1)) is None
