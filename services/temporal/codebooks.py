"""Upkeep of the residual quantizer's codebooks during training: a k-means
start, level by level, and restarts of codes that fell out of use.

The encodec package can start codebooks itself on the first training batch,
but its k-means materialises a [samples, codes, dim] difference tensor: on
the trainer's CPU that is ~3 minutes for 8 levels of 1024 codes, and a first
batch of 8 x 1 s (400 frames) has fewer frames than codes, so most codes
start as copies of one another. This one computes distances by matrix
product and is given more frames than there are codes.

The package also means to restart dead codes (threshold_ema_dead_code), but
in encodec 0.1.1 the restarted codes are overwritten by the EMA update a few
lines later, so a code no frame picks stays dead for good (a test shows it)."""
from __future__ import annotations

from functools import partial

import torch
from encodec.quantization import ResidualVectorQuantizer
from torch import nn


@torch.no_grad()
def kmeans(samples: torch.Tensor, clusters: int, iters: int,
           generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means of samples [N, D] from `clusters` distinct samples (with
    repeats only when N < clusters) -> means [clusters, D], counts [clusters].
    A cluster that ends up empty keeps its previous mean."""
    n = samples.shape[0]
    picks = torch.randperm(n, generator=generator)[:clusters] if n >= clusters else \
        torch.randint(0, n, (clusters,), generator=generator)
    means = samples[picks.to(samples.device)].clone()  # [C, D]
    counts = torch.zeros(clusters, device=samples.device)
    for _ in range(iters):
        nearest = torch.cdist(samples, means).argmin(dim=1)  # [N]
        counts = torch.bincount(nearest, minlength=clusters).to(samples.dtype)  # [C]
        sums = torch.zeros_like(means).index_add_(0, nearest, samples)  # [C, D]
        means = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], means)
    return means, counts


@torch.no_grad()
def kmeans_init(quantizer: ResidualVectorQuantizer, latent: torch.Tensor, iters: int,
                generator: torch.Generator, levels: range | None = None) -> torch.Tensor:
    """Fits each of `levels`' codebooks (all when None) to the residual that
    reaches it from `latent` [B, D, T], what reaches the first of them, and
    marks it initialised, so the package's own k-means never runs. The EMA
    state is made consistent (embed_avg = embed * cluster_size), so the first
    EMA updates do not drag the codes. Returns the residual the last level
    leaves [B, D, T]."""
    layers = quantizer.vq.layers
    levels = range(len(layers)) if levels is None else levels
    residual = latent.transpose(1, 2).reshape(-1, latent.shape[1])  # [N, D]
    for layer in (layers[i] for i in levels):
        book = layer._codebook
        means, counts = kmeans(residual, book.codebook_size, iters, generator)
        counts = counts.clamp_min(1)  # an empty cluster keeps its mean for a while rather than collapsing to 0
        book.embed.copy_(means)
        book.embed_avg.copy_(means * counts[:, None])
        book.cluster_size.copy_(counts)
        book.inited.fill_(1)
        residual = residual - means[torch.cdist(residual, means).argmin(dim=1)]
    return residual.reshape(latent.shape[0], latent.shape[2], -1).transpose(1, 2)


class DeadCodeRestarts:
    """Keeps what reaches each quantizer level in a training pass, and after
    the step moves every code whose EMA use fell below `below` (frames a
    batch) onto a random one of those frames, with a fresh EMA use of 1, so
    it has a few hundred steps to be picked before it counts as dead again."""

    def __init__(self, quantizer: ResidualVectorQuantizer, below: float) -> None:
        self.layers = list(quantizer.vq.layers)
        self.below = below
        self.inputs: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.layers):
            layer.register_forward_pre_hook(partial(self._keep, i))

    def _keep(self, index: int, layer: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if layer.training:
            self.inputs[index] = args[0].detach()  # [B, D, T], the residual this level quantizes

    @torch.no_grad()
    def restart(self, generator: torch.Generator) -> int:
        """Restarts the dead codes of the levels used since the last call; returns how many."""
        restarted = 0
        for index, residual in self.inputs.items():
            book = self.layers[index]._codebook
            dead = (book.cluster_size < self.below).nonzero()[:, 0]  # [n]
            if not len(dead):
                continue
            frames = residual.transpose(1, 2).reshape(-1, residual.shape[1])  # [B * T, D]
            picks = torch.randint(0, len(frames), (len(dead),), generator=generator).to(frames.device)
            book.embed[dead] = frames[picks]
            book.embed_avg[dead] = frames[picks]
            book.cluster_size[dead] = 1.0
            restarted += len(dead)
        self.inputs.clear()
        return restarted
