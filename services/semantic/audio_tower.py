"""The audio side of the joint text–audio space (ARCHITECTURE.md §3, objective
2): 24 kHz mono audio -> log-mel frames -> 1-D conv blocks that downsample
time -> a small transformer -> attention pooling -> [B, embedding_dim],
L2-normalised.

The mel is split from the network on purpose: training precomputes log-mel
frames once per song and crops them (rendering and STFTs dominate otherwise),
while inference computes them from the waveform with the very same function.
Convolutions run over time with mel bins as channels (not 2-D over the
spectrogram) because that is several times cheaper on the CPU this trains on."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from hiermusic.services.common.nn import SummaryPooler, Transformer, TransformerConfig


@dataclass
class AudioTowerConfig:
    sample_rate: int = 24000
    n_fft: int = 1024
    hop_length: int = 480  # 50 frames/s, the codec's frame rate
    n_mels: int = 64
    # The window the tower sees: training crops and, at inference, the crops a
    # whole piece is cut into before their embeddings are averaged.
    crop_s: float = 10.0
    # Conv widths before the last block, which outputs `dim`; the first block
    # keeps the frame rate, each later one halves it (50 -> 6.25 tokens/s).
    channels: tuple[int, ...] = (128, 192, 192)
    dim: int = 192
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1  # a few hundred songs, seen hundreds of times each over a long run

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)  # a model card's JSON gives a list

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def crop_frames(self) -> int:
        return round(self.crop_s * self.frame_rate)

    @property
    def downsample(self) -> int:
        return 2 ** len(self.channels)


class AudioTower(nn.Module):
    """Log-mel frames [B, n_mels, T] -> joint embedding [B, embedding_dim]."""

    def __init__(self, config: AudioTowerConfig, embedding_dim: int) -> None:
        super().__init__()
        self.config = config
        c = config
        # Not persistent: rebuilt from the config, so checkpoints hold only learned weights.
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)
        fbanks = torchaudio.functional.melscale_fbanks(
            c.n_fft // 2 + 1, 0.0, c.sample_rate / 2, c.n_mels, c.sample_rate, norm="slaney", mel_scale="slaney"
        )
        self.register_buffer("fbanks", fbanks, persistent=False)  # [n_fft/2+1, n_mels]

        self.input_norm = nn.BatchNorm1d(c.n_mels)  # learns the level and spread of each mel bin
        blocks, width = [], c.n_mels
        for i, out in enumerate((*c.channels, c.dim)):
            blocks += [
                nn.Conv1d(width, out, kernel_size=3, stride=1 if i == 0 else 2, padding=1),
                nn.BatchNorm1d(out),
                nn.GELU(),
            ]
            width = out
        self.convs = nn.Sequential(*blocks)
        max_len = -(-c.crop_frames // c.downsample) + 1  # tokens of the longest window it is fed
        self.transformer = Transformer(
            TransformerConfig(
                dim=c.dim, layers=c.layers, heads=c.heads, dropout=c.dropout, max_len=max_len, cross_attention=False
            )
        )
        self.pool = SummaryPooler(1, c.dim, embedding_dim, c.heads)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, samples] float at sample_rate -> [B, n_mels, T], T = samples // hop + 1."""
        c = self.config
        spec = torch.stft(audio.float(), c.n_fft, c.hop_length, window=self.window, return_complex=True)
        power = spec.abs().pow(2)  # [B, n_fft/2+1, T]
        mel = torch.einsum("bft,fm->bmt", power, self.fbanks)  # [B, n_mels, T]
        return torch.log(mel.clamp_min(1e-6))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, n_mels, T] log-mel frames, T <= crop_frames + 1 -> [B, E] unit vectors."""
        h = self.convs(self.input_norm(mel))  # [B, dim, T' = T / downsample]
        h = self.transformer(h.transpose(1, 2), causal=False)  # [B, T', dim]
        return F.normalize(self.pool(h)[:, 0], dim=-1)  # [B, E]

    def windows(self, mel: torch.Tensor) -> torch.Tensor:
        """One piece's frames [n_mels, T] -> crops [N, n_mels, crop_frames] that
        cover it: back to back, the last one flush with the end (overlapping
        its neighbour rather than padded). A piece shorter than a crop is
        repeated to fill one, as training fills its crops of short songs: the
        tower then sees the lengths it learnt."""
        size, total = self.config.crop_frames, mel.shape[-1]
        if total <= size:
            return mel.repeat(1, -(-size // total))[None, :, :size]
        starts = list(range(0, total - size + 1, size))
        if starts[-1] + size < total:
            starts.append(total - size)
        return torch.stack([mel[:, s : s + size] for s in starts])

    def embed_frames(self, mel: torch.Tensor, max_batch: int = 64) -> torch.Tensor:
        """A whole piece's frames [n_mels, T] -> [E]: the mean of its crops'
        embeddings, normalised again."""
        crops = self.windows(mel)  # [N, n_mels, crop_frames]
        embeddings = torch.cat([self(chunk) for chunk in crops.split(max_batch)])  # [N, E]
        return F.normalize(embeddings.mean(dim=0), dim=-1)

    def embed_waveform(self, audio: torch.Tensor) -> torch.Tensor:
        """A whole piece [samples] at sample_rate -> [E]."""
        return self.embed_frames(self.log_mel(audio[None])[0])
