"""The captions a trainer on them embeds, through the frozen MiniLM, once.

Training songs get several wordings each, so the text side cannot memorise
one sentence per song: a composed song's spec is worded again
(corpus.captions words the same spec many ways) and each step picks one
wording per song. Validation and test match each song's stored caption only."""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from hiermusic.corpus.labels import SongLabels
from hiermusic.services.semantic.text_tower import encode_sentences


class Labelled(Protocol):
    labels: SongLabels


def caption_variants(labels: SongLabels, count: int) -> list[str]:
    """The stored caption, then up to count - 1 other wordings of the same
    composed song (from its spec, with rngs the build never uses). Scores and
    user audio have only their stored caption."""
    if labels.source != "synthetic" or count <= 1:
        return [labels.caption]
    from hiermusic.corpus.arranger import CAPTION_STREAM
    from hiermusic.corpus.build import item_for
    from hiermusic.corpus.captions import caption
    from hiermusic.corpus.song_spec import compose_spec

    spec = compose_spec(item_for(labels).key)  # refuses songs of another composer version
    others = [caption(spec, np.random.default_rng([spec.seed, CAPTION_STREAM, i])) for i in range(1, count)]
    return list(dict.fromkeys([labels.caption, *others]))


class Captions:
    """MiniLM sentence embeddings of up to `variants` wordings of each
    training song's caption and of the stored captions of the valid and test
    songs (of the splits that have any)."""

    def __init__(self, groups: dict[str, list[Labelled]], variants: int, device: torch.device,
                 log: Callable[[str], None]) -> None:
        wordings = [caption_variants(item.labels, variants) for item in groups["train"]]
        self.train = encode_sentences([c for w in wordings for c in w], device)  # [sum of wordings, text_dim]
        self.counts = torch.tensor([len(w) for w in wordings])  # [N]
        self.first = torch.cumsum(self.counts, 0) - self.counts  # [N], row of each song's stored caption
        self.stored = {name: encode_sentences([item.labels.caption for item in groups[name]], device)
                       for name in ("valid", "test") if groups[name]}  # [N, text_dim] each
        log(f"{len(self.train)} training captions for {len(wordings)} songs")

    def pick(self, songs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One random wording of each of the training `songs` (indices [B]) -> [B, text_dim]."""
        wording = self.first[songs] + (torch.rand(len(songs), generator=generator) * self.counts[songs]).long()  # [B]
        return self.train[wording.to(self.train.device)]
