"""A Vocos-style codec decoder: ConvNeXt blocks at the frame rate predict each
frame's STFT magnitude and phase, and an inverse STFT makes the waveform.

Every layer runs at 50 frames/s instead of upsampling to 24 kHz as the SEANet
decoder does, so it is several times cheaper to train and to run on a CPU
(ARCHITECTURE.md §1). After Siuzdak, "Vocos" (2023), scaled down.

With `learned_phase=False` the head predicts the magnitude only and decoding
finds a phase by fast Griffin-Lim (Perraudin et al. 2013). Trained on
reconstruction losses alone, a learned phase does not cohere from frame to
frame, so partials cancel in the overlap-add and pitch is lost (a 4000-step
run kept loudness and onsets, chroma correlation with the input ~0); a
magnitude head is trained on the spectrum itself (`log_magnitude` against
`target_log_magnitude`), which carries pitch from the first steps."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FF_MULT = 3  # Vocos: 512 -> 1536
MAGNITUDE_FLOOR = 1e-5  # -100 dB: quieter bins all count as silence
MOMENTUM = 0.99  # fast Griffin-Lim's


def frame_stft(wav: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """[B, T * hop] -> complex [B, n_fft / 2 + 1, T], frame t centred on
    sample t * hop + hop / 2: the framing of the SEANet encoder's frames and
    of ISTFTDecoder.istft's inverse. The edges are reflected."""
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


class ISTFTDecoder(nn.Module):
    """Latent frames [B, dimension, T] -> waveform [B, 1, T * hop].

    Frame t is the STFT frame centred on sample t * hop + hop / 2, which is
    where the SEANet encoder's frame t sits, and the inverse STFT trims
    (n_fft - hop) / 2 from each end ("same" padding), so T frames give exactly
    T * hop samples, as the SEANet decoder does."""

    def __init__(self, dimension: int, hop: int, dim: int = 256, layers: int = 6, n_fft: int = 1920,
                 learned_phase: bool = True, griffin_lim_iters: int = 32) -> None:
        super().__init__()
        if n_fft < hop or (n_fft - hop) % 2:
            raise ValueError(f"istft n_fft {n_fft} must be at least the hop {hop} and differ from it by an even number")
        self.hop, self.n_fft = hop, n_fft
        self.learned_phase, self.griffin_lim_iters = learned_phase, griffin_lim_iters
        self.embed = nn.Conv1d(dimension, dim, kernel_size=7, padding=3)
        self.norm_in = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, 1.0 / layers) for _ in range(layers))
        self.norm_out = nn.LayerNorm(dim)
        bins = n_fft // 2 + 1
        self.head = nn.Linear(dim, 2 * bins if learned_phase else bins)  # log-magnitude (and phase) per bin
        # Not persistent: rebuilt from the config, so checkpoints hold only learned weights.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def spectrum(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent [B, dimension, T] -> the head's output [B, bins (x2 with phase), T]."""
        h = self.embed(latent)  # [B, dim, T]
        h = self.norm_in(h.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm_out(h.transpose(1, 2))).transpose(1, 2)

    def log_magnitude(self, latent: torch.Tensor) -> torch.Tensor:
        """[B, dimension, T] -> predicted log STFT magnitude [B, n_fft / 2 + 1, T]."""
        out = self.spectrum(latent)
        return out.chunk(2, dim=1)[0] if self.learned_phase else out

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        out = self.spectrum(latent)
        if not self.learned_phase:
            return self.griffin_lim(out.exp().clamp(max=1e2))[:, None]
        log_mag, phase = out.chunk(2, dim=1)  # [B, F, T] each
        # Clamped as in Vocos: exp of an early, untrained output can overflow.
        spec = torch.polar(log_mag.exp().clamp(max=1e2), phase)  # complex [B, F, T]
        return self.istft(spec)[:, None]  # [B, 1, T * hop]

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
