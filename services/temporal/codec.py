"""The codec plugin interface: waveform <-> RVQ codes. The temporal level
renders audio through one; training tokenizes the corpus with the same one, so
its id, rates and codebook shape are part of the token-space contract."""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Iterator

import torch


class Codec(ABC):
    """A neural audio codec registered under the `hiermusic.codec` entry points."""

    name: ClassVar[str]  # registry name
    codec_id: str  # token-space id: codes are only interchangeable within one id
    sample_rate: int
    frame_rate: float
    codebooks: int
    codebook_size: int
    version: str
    digest: str
    trained: bool

    @abstractmethod
    def __init__(self, checkpoint: Path | None, device: torch.device) -> None: ...

    @property
    def hop_length(self) -> int:
        """Samples per frame."""
        return int(round(self.sample_rate / self.frame_rate))

    @abstractmethod
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav float [B, 1, N] at `sample_rate` -> codes int64 [B, K, ceil(N / hop)]."""

    @abstractmethod
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes int64 [B, K', T] -> wav float [B, 1, T * hop]; K' <= K decodes
        the first K' residual levels only (K' = 2: what the coarse tokens alone carry)."""

    def check_codes(self, codes: torch.Tensor) -> None:
        """Refuses codes of the wrong shape or range before they reach an
        embedding lookup, where they would fail with an opaque index error."""
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.codebooks:
            raise ValueError(f"codes must be [B, 1..{self.codebooks}, T], got {list(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must lie in [0, {self.codebook_size})")


@contextmanager
def quiet_weight_norm() -> Iterator[None]:
    """encodec 0.1.1 builds its convolutions with torch's deprecated
    `weight_norm`; the FutureWarning is nothing a user of this project can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*weight_norm.* is deprecated", category=FutureWarning)
        yield
