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
from encodec.quantization import ResidualVectorQuantizer


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

    def autoencode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav float [B, 1, N] -> wav float [B, 1, N // hop * hop] through the
        encoder and the decoder with no quantizer between them: the bound on
        what any number of codebooks can keep."""
        raise NotImplementedError(f"codec {self.name} cannot decode its unquantized latent")

    def decode_expected(self, codes: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """codes int64 [B, K', T] and probs float [B, J, T, codebook_size]
        (a distribution over each frame's code at levels K'..K'+J-1) -> wav
        float [B, 1, T * hop], decoded from the sum of the given codes'
        codebook vectors and the expected vector of each distribution. With
        one-hot probs it is `decode` of the codes they pick."""
        raise NotImplementedError(f"codec {self.name} cannot decode expected codebook vectors")

    def codebook_vectors(self) -> torch.Tensor:
        """float [codebooks, codebook_size, latent dim]: the vector each code
        adds to the decoder's latent (what a fine model with codebook
        geometry is given)."""
        raise NotImplementedError(f"codec {self.name} does not expose its codebook vectors")

    def check_codes(self, codes: torch.Tensor) -> None:
        """Refuses codes of the wrong shape or range before they reach an
        embedding lookup, where they would fail with an opaque index error."""
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.codebooks:
            raise ValueError(f"codes must be [B, 1..{self.codebooks}, T], got {list(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must lie in [0, {self.codebook_size})")


def check_probs(codec: Codec, codes: torch.Tensor, probs: torch.Tensor) -> None:
    """Refuses distributions that do not continue `codes` level for level, frame for frame."""
    codec.check_codes(codes)
    b, k, t = codes.shape
    if probs.dim() != 4 or probs.shape[0] != b or probs.shape[2] != t or probs.shape[3] != codec.codebook_size:
        raise ValueError(f"probs must be [{b}, J, {t}, {codec.codebook_size}], got {list(probs.shape)}")
    if k + probs.shape[1] > codec.codebooks:
        raise ValueError(f"{k} levels of codes and {probs.shape[1]} of probs exceed the codec's {codec.codebooks}")


def expected_latent(quantizer: ResidualVectorQuantizer, codes: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """The quantized latent [B, D, T] of codes [B, K', T] plus, for each of
    the next levels, its codebook vectors weighted by probs [B, J, T, V]:
    the least-squares estimate of those levels' sum under the distributions,
    where a code drawn from each would add its sampling noise to the audio."""
    latent = quantizer.decode(codes.transpose(0, 1))  # [B, D, T]
    layers = quantizer.vq.layers[codes.shape[1] :]
    for j, layer in enumerate(layers[: probs.shape[1]]):
        vectors = probs[:, j].to(layer._codebook.embed.dtype) @ layer._codebook.embed  # [B, T, codebook dim]
        latent = latent + layer.project_out(vectors).transpose(1, 2)
    return latent


@torch.no_grad()
def quantizer_vectors(quantizer: ResidualVectorQuantizer, levels: int) -> torch.Tensor:
    """The package quantizer's codebook vectors in the latent, [levels, V, D]
    (the first `levels`: the published model has more than its bandwidth uses)."""
    layers = quantizer.vq.layers[:levels]
    return torch.stack([layer.project_out(layer._codebook.embed) for layer in layers]).float().cpu()


@contextmanager
def quiet_weight_norm() -> Iterator[None]:
    """encodec 0.1.1 builds its convolutions with torch's deprecated
    `weight_norm`; the FutureWarning is nothing a user of this project can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*weight_norm.* is deprecated", category=FutureWarning)
        yield
