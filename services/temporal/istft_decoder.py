"""A Vocos-style codec decoder: ConvNeXt blocks at the frame rate predict each
frame's STFT magnitude and phase, and an inverse STFT makes the waveform.

Every layer runs at 50 frames/s instead of upsampling to 24 kHz as the SEANet
decoder does, so it is several times cheaper to train and to run on a CPU
(ARCHITECTURE.md §1). After Siuzdak, "Vocos" (2023), scaled down."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FF_MULT = 3  # Vocos: 512 -> 1536


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


class ISTFTDecoder(nn.Module):
    """Latent frames [B, dimension, T] -> waveform [B, 1, T * hop].

    Frame t is the STFT frame centred on sample t * hop + hop / 2, which is
    where the SEANet encoder's frame t sits, and the inverse STFT trims
    (n_fft - hop) / 2 from each end ("same" padding), so T frames give exactly
    T * hop samples, as the SEANet decoder does."""

    def __init__(self, dimension: int, hop: int, dim: int = 256, layers: int = 6, n_fft: int = 1920) -> None:
        super().__init__()
        if n_fft < hop or (n_fft - hop) % 2:
            raise ValueError(f"istft n_fft {n_fft} must be at least the hop {hop} and differ from it by an even number")
        self.hop, self.n_fft = hop, n_fft
        self.embed = nn.Conv1d(dimension, dim, kernel_size=7, padding=3)
        self.norm_in = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, 1.0 / layers) for _ in range(layers))
        self.norm_out = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_fft + 2)  # log-magnitude and phase of n_fft / 2 + 1 bins
        # Not persistent: rebuilt from the config, so checkpoints hold only learned weights.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.embed(latent)  # [B, dim, T]
        h = self.norm_in(h.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        log_mag, phase = self.head(self.norm_out(h.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)  # [B, F, T] each
        # Clamped as in Vocos: exp of an early, untrained output can overflow.
        spec = torch.polar(log_mag.exp().clamp(max=1e2), phase)  # complex [B, F, T]
        return self.istft(spec)[:, None]  # [B, 1, T * hop]

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
