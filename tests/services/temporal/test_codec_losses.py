from __future__ import annotations

import numpy as np
import torch

from hiermusic.services.temporal.codec_losses import SpectrumChromaLoss
from hiermusic.services.temporal.magnitude_decoder import frame_stft

SR, N_FFT, HOP = 24000, 1920, 480


def log_magnitude(midi_notes: tuple[int, ...], gain: float = 1.0) -> torch.Tensor:
    """Log STFT magnitude [1, F, T] of 1 s of harmonic tones (fundamental and two harmonics)."""
    t = np.arange(SR) / SR
    wav = sum(np.sin(2 * np.pi * 440.0 * 2 ** ((m - 69) / 12) * h * t) / h for m in midi_notes for h in (1, 2, 3))
    wav = torch.from_numpy((gain * 0.1 * wav).astype(np.float32))[None]
    spectrum = frame_stft(wav, N_FFT, HOP, torch.hann_window(N_FFT))
    return spectrum.abs().clamp_min(1e-5).log()


def test_the_chroma_loss_hears_pitch_classes_and_not_loudness() -> None:
    loss = SpectrumChromaLoss(SR, N_FFT)
    c_minor, c_major = log_magnitude((60, 63, 67)), log_magnitude((60, 64, 67))
    assert float(loss(c_minor, c_minor)) < 1e-6
    # The same chord 12 dB quieter has the same pitch classes.
    assert float(loss(log_magnitude((60, 63, 67), gain=0.25), c_minor)) < 0.02
    # One note of three a semitone off (the third) is what a key is heard from.
    moved = float(loss(c_major, c_minor))
    assert moved > 0.3
    # A bass note a semitone off (C#3 for C3) is heard too, if less.
    assert float(loss(log_magnitude((49, 63, 67)), log_magnitude((48, 63, 67)))) > 0.1


def test_the_chroma_loss_weighs_loud_frames_and_has_a_gradient() -> None:
    loss = SpectrumChromaLoss(SR, N_FFT)
    reference = log_magnitude((57, 60, 64))
    silent = torch.full_like(reference, np.log(1e-5))
    # Frames where the reference is silent carry (almost) no weight.
    half = reference.clone()
    half[..., : half.shape[-1] // 2] = silent[..., : half.shape[-1] // 2]
    estimate = log_magnitude((57, 61, 64)).requires_grad_(True)
    mixed = estimate.detach().clone()
    mixed[..., : mixed.shape[-1] // 2] = log_magnitude((40, 45, 50))[..., : mixed.shape[-1] // 2]
    assert abs(float(loss(mixed, half)) - float(loss(estimate.detach(), half))) < 0.05
    value = loss(estimate, reference)
    value.backward()
    assert estimate.grad is not None and float(estimate.grad.abs().sum()) > 0
