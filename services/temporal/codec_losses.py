"""Reconstruction losses of the codec trainer: L1 between log-mel
spectrograms at several FFT sizes (short windows see onsets, long ones
pitch), as EnCodec and Vocos train with, and for a magnitude decoder an L1
between chroma vectors, the pitch classes a key is heard from."""
from __future__ import annotations

from collections.abc import Sequence

import librosa
import torch
import torchaudio
from torch import nn

LOG_FLOOR = 1e-5  # on mel power: quieter bins than -50 dB all count as silence


class MultiScaleMelLoss(nn.Module):
    """Mean over FFT sizes of the mean |log mel(estimate) - log mel(reference)|."""

    def __init__(self, sample_rate: int, fft_sizes: Sequence[int] = (512, 1024, 2048), n_mels: int = 64) -> None:
        super().__init__()
        self.mels = nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n, hop_length=n // 4, n_mels=n_mels, power=2.0)
            for n in fft_sizes
        )

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """[B, 1, N] and [B, 1, N] -> scalar."""
        losses = [(self._log(mel, estimate) - self._log(mel, reference)).abs().mean() for mel in self.mels]
        return torch.stack(losses).mean()

    @staticmethod
    def _log(mel: nn.Module, wav: torch.Tensor) -> torch.Tensor:
        return torch.log(mel(wav).clamp_min(LOG_FLOOR))  # [B, 1, n_mels, frames]


class SpectrumMelLoss(nn.Module):
    """For a decoder that predicts the magnitude (istft_decoder.py,
    learned_phase=False): mean |log mel| difference computed from predicted
    and reference log STFT magnitudes [B, F, T], so the loss weighs the low
    bands, where pitch is, as the waveform mel loss does."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int = 64) -> None:
        super().__init__()
        banks = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("banks", banks, persistent=False)  # [F, n_mels]

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return (self._log_mel(estimate) - self._log_mel(reference)).abs().mean()

    def _log_mel(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        power = (2 * log_magnitude).exp().transpose(1, 2)  # [B, T, F]
        return torch.log((power @ self.banks).clamp_min(LOG_FLOOR))  # [B, T, n_mels]


class SpectrumChromaLoss(nn.Module):
    """For a magnitude decoder: mean |chroma(estimate) - chroma(reference)|
    over frames, each frame's 12 pitch-class energies (librosa's chroma
    filters, A440) divided by their sum and the frame weighed by its share of
    the reference's chroma energy. Mel bands are ~5 semitones wide around C3,
    so a mel loss cannot tell a key from its neighbours: a codec trained
    without this kept the mode of 22 of 30 corpus-style songs and their key
    17 times, its decoder trained again with it 25 and 21 (bench/codec_keys.py)."""

    def __init__(self, sample_rate: int, n_fft: int) -> None:
        super().__init__()
        filters = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, n_chroma=12, tuning=0.0)  # [12, F]
        self.register_buffer("filters", torch.from_numpy(filters.T.copy()).float(), persistent=False)  # [F, 12]

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Log magnitudes [B, F, T] -> scalar."""
        est, ref = self._chroma(estimate), self._chroma(reference)  # [B, T, 12]
        est_total, ref_total = est.sum(-1, keepdim=True), ref.sum(-1, keepdim=True)
        error = (est / est_total.clamp_min(LOG_FLOOR) - ref / ref_total.clamp_min(LOG_FLOOR)).abs().sum(-1)
        weight = ref_total[..., 0] / ref_total.sum(dim=1).clamp_min(LOG_FLOOR)  # [B, T], each row sums to 1
        return (error * weight).sum(dim=1).mean()

    def _chroma(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        return (2 * log_magnitude).exp().transpose(1, 2) @ self.filters  # power [B, T, F] -> [B, T, 12]
