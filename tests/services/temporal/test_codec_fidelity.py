from __future__ import annotations

import numpy as np
import pytest
import torch

from hiermusic.services.temporal.codec_fidelity import fidelity_of, mel_distance, si_snr
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeCodec

SR = 24000


def tone(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_si_snr_ignores_scale_and_hears_noise() -> None:
    ref = tone(0.5, 440.0)
    noise = 0.03 * np.random.default_rng(0).standard_normal(len(ref)).astype(np.float32)
    assert si_snr(ref, 0.5 * ref) > 100
    assert si_snr(ref, ref + noise) == pytest.approx(10 * np.log10(np.mean(ref**2) / np.mean(noise**2)), abs=0.5)
    with pytest.raises(ValueError, match="equal shapes"):
        si_snr(ref, ref[:-1])


def test_mel_distance_is_zero_for_the_same_audio_and_grows_with_the_difference() -> None:
    a, b = tone(0.5, 440.0), tone(0.5, 660.0)
    assert mel_distance(a, a) == 0.0
    assert mel_distance(a, b) > mel_distance(a, 0.9 * a + 0.1 * b) > 0.0
    with pytest.raises(ValueError, match="equal shapes"):
        mel_distance(a, b[:-1])


def test_fidelity_is_measured_at_all_codebooks_and_at_the_coarse_ones() -> None:
    torch.set_num_threads(1)
    codec = StftMagnitudeCodec(None, torch.device("cpu"))
    found = fidelity_of(codec, [tone(2.0, 220.0), tone(0.5, 330.0)], coarse_codebooks=2, clip_s=1.0)
    assert (found["clips"], found["clip_s"]) == (2, 1.0)
    assert set(found) == {"clips", "clip_s", "codebooks_8", "codebooks_2"}
    assert all(np.isfinite(v) for k in (8, 2) for v in found[f"codebooks_{k}"].values())
