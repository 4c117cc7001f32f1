"""The bundled codec's decoder: ConvNeXt blocks at the frame rate predict
each frame's log STFT magnitude, and decoding finds a phase for it by fast
Griffin-Lim (Perraudin et al. 2013) and overlap-adds the frames.

Every layer runs at 50 frames/s instead of upsampling to 24 kHz, so it is
cheap to train and to run on a CPU (ARCHITECTURE.md §1). After Siuzdak,
"Vocos" (2023), scaled down and without its phase head: trained on
reconstruction losses alone, a learned phase did not cohere from frame to
frame, partials cancelled in the overlap-add and pitch was lost
(docs/experiments/codec.md); a magnitude head is trained on the spectrum
itself (`log_magnitude` against `target_log_magnitude`), which carries pitch
from the first steps."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FF_MULT = 3  # Vocos: 512 -> 1536
MAGNITUDE_FLOOR = 1e-5  # -100 dB: quieter bins all count as silence
MAGNITUDE_CEILING = 1e2  # as Vocos clamps: exp of an early, untrained output can overflow
MOMENTUM = 0.99  # fast Griffin-Lim's


def frame_stft(wav: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """[B, T * hop] -> complex [B, n_fft / 2 + 1, T], frame t centred on
    sample t * hop + hop / 2: the framing of the codec's latent frames and
    of MagnitudeDecoder.istft's inverse. The edges are reflected."""
    pad = (n_fft - hop) // 2
    padded = F.pad(wav[:, None], (pad, pad), mode="reflect")[:, 0]
    return torch.stft(padded, n_fft, hop, window=window, center=False, return_complex=True)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv over time, then a pointwise MLP, with a learned layer scale."""

    def __init__(self, dim: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, FF_MULT * dim)
        self.down = nn.Linear(FF_MULT * dim, dim)
        self.scale = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).transpose(1, 2)  # [B, T, dim]
        h = self.down(F.gelu(self.up(self.norm(h))))
        return x + (self.scale * h).transpose(1, 2)  # [B, dim, T]


class MagnitudeDecoder(nn.Module):
    """Latent frames [B, dimension, T] -> waveform [B, 1, T * hop].

    Frame t is the STFT frame centred on sample t * hop + hop / 2, and the
    inverse STFT trims (n_fft - hop) / 2 from each end ("same" padding), so
    T frames give exactly T * hop samples."""

    def __init__(self, dimension: int, hop: int, dim: int = 192, layers: int = 4, n_fft: int = 1920,
                 griffin_lim_iters: int = 32, bridge: bool = False) -> None:
        super().__init__()
        if n_fft < hop or (n_fft - hop) % 2:
            raise ValueError(f"n_fft {n_fft} must be at least the hop {hop} and differ from it by an even number")
        self.hop, self.n_fft, self.griffin_lim_iters = hop, n_fft, griffin_lim_iters
        self.embed = nn.Conv1d(dimension, dim, kernel_size=7, padding=3)
        self.norm_in = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, 1.0 / layers) for _ in range(layers))
        self.norm_out = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_fft // 2 + 1)  # log magnitude per bin
        # With the bridge: the latent's own linear map back to the spectrum
        # (`unproject`, started as the encoder's principal components
        # transposed, plus their mean), the blocks adding a correction (the
        # head, started at zero); stft_encoder.py says why.
        self.unproject = nn.Conv1d(dimension, n_fft // 2 + 1, kernel_size=1) if bridge else None
        # Not persistent: rebuilt from the config, so checkpoints hold only learned weights.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def log_magnitude(self, latent: torch.Tensor) -> torch.Tensor:
        """[B, dimension, T] -> predicted log STFT magnitude [B, n_fft / 2 + 1, T]."""
        h = self.embed(latent)  # [B, dim, T]
        h = self.norm_in(h.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        out = self.head(self.norm_out(h.transpose(1, 2))).transpose(1, 2)
        return out + self.unproject(latent) if self.unproject is not None else out

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        magnitude = self.log_magnitude(latent).exp().clamp(max=MAGNITUDE_CEILING)  # [B, F, T]
        return self.griffin_lim(magnitude)[:, None]  # [B, 1, T * hop]

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, T * hop] -> complex [B, n_fft / 2 + 1, T]: istft's inverse framing."""
        return frame_stft(wav, self.n_fft, self.hop, self.window)

    def target_log_magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, T * hop] -> log STFT magnitude [B, n_fft / 2 + 1, T], what `log_magnitude` learns."""
        return self.stft(wav[:, 0]).abs().clamp_min(MAGNITUDE_FLOOR).log()

    def griffin_lim(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Magnitude [B, F, T] -> [B, T * hop] by fast Griffin-Lim (momentum
        0.99) from a zero phase, so decoding is deterministic."""
        phase = torch.ones_like(magnitude, dtype=torch.complex64)
        previous = torch.zeros_like(phase)
        for _ in range(self.griffin_lim_iters):
            rebuilt = self.stft(self.istft(magnitude * phase))
            accelerated = rebuilt + MOMENTUM * (rebuilt - previous)
            previous = rebuilt
            phase = accelerated / accelerated.abs().clamp_min(1e-8)
        return self.istft(magnitude * phase)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """complex [B, n_fft / 2 + 1, T] -> [B, T * hop]. torch.istft cannot
        do "same" padding (its window envelope check fails on the uncentred
        edges), so this is the overlap-add written out with fold."""
        frames = spec.shape[-1]
        pad = (self.n_fft - self.hop) // 2
        chunks = torch.fft.irfft(spec, self.n_fft, dim=1) * self.window[None, :, None]  # [B, n_fft, T]
        size = (frames - 1) * self.hop + self.n_fft

        def overlap_add(x: torch.Tensor) -> torch.Tensor:  # [B, n_fft, T] -> [B, size]
            return F.fold(x, output_size=(1, size), kernel_size=(1, self.n_fft), stride=(1, self.hop))[:, 0, 0]

        signal = overlap_add(chunks)[:, pad : size - pad]
        envelope = overlap_add(self.window.square()[None, :, None].expand(1, -1, frames))[:, pad : size - pad]
        return signal / envelope.clamp_min(1e-11)
