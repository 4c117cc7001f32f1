"""The bundled codec's encoder: each frame's log STFT magnitude (the
magnitude decoder's own framing) through ConvNeXt blocks at the frame rate
to the quantizer's latent.

Why the spectrum and not the waveform: the package's SEANet encoder, trained
from the waveform on this project's CPU, had not learnt to carry pitch after
4000 steps in two runs (docs/experiments/codec.md). Given the spectrum, the
encoder only has to compress what the magnitude decoder must rebuild, and
every layer runs at 50 frames/s."""
from __future__ import annotations

import torch
from torch import nn

from hiermusic.services.temporal.magnitude_decoder import MAGNITUDE_FLOOR, ConvNeXtBlock, frame_stft


class STFTEncoder(nn.Module):
    """Waveform [B, 1, T * hop] -> latent [B, dimension, T], frame t centred
    on sample t * hop + hop / 2."""

    def __init__(self, dimension: int, hop: int, dim: int = 192, layers: int = 4, n_fft: int = 1920,
                 bridge: bool = False) -> None:
        super().__init__()
        self.hop, self.n_fft = hop, n_fft
        # With the bridge the latent is a linear projection of the frame's log
        # magnitude (`project`, started as the corpus's principal components,
        # spectral_basis.py) plus the blocks' correction (`out`, started at
        # zero), so training starts from a codec that already keeps the
        # partials. Why: trained from random weights the pair blurred them
        # (issue 28; docs/experiments/codec.md).
        self.project = nn.Conv1d(n_fft // 2 + 1, dimension, kernel_size=1) if bridge else None
        self.embed = nn.Conv1d(n_fft // 2 + 1, dim, kernel_size=1)  # per frame; the blocks see neighbours
        self.norm_in = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, 1.0 / layers) for _ in range(layers))
        self.norm_out = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, dimension)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.from_log_magnitude(self.log_magnitude(wav))

    def log_magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, T * hop] -> the log STFT magnitude the encoder reads [B, n_fft / 2 + 1, T]."""
        frames = wav.shape[-1] // self.hop
        magnitude = frame_stft(wav[:, 0, : frames * self.hop], self.n_fft, self.hop, self.window).abs()
        return magnitude.clamp_min(MAGNITUDE_FLOOR).log()

    def from_log_magnitude(self, log_mag: torch.Tensor) -> torch.Tensor:
        h = self.embed(log_mag)  # [B, dim, T]
        h = self.norm_in(h.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        latent = self.out(self.norm_out(h.transpose(1, 2))).transpose(1, 2)  # [B, dimension, T]
        return latent + self.project(log_mag) if self.project is not None else latent
