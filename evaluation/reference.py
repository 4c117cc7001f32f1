"""The reference: composed corpus songs from the held-out test split,
rendered again from their seeds. Generated pieces are compared with them
(Fréchet distance, structure), and the codec is measured on them."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.split import split_of


def reference_songs(count: int, build_seed: int = 0) -> list[tuple[SongLabels, np.ndarray]]:
    """The first `count` test-split songs of a corpus built with `build_seed`."""
    from hiermusic.corpus.build import Item, render_item

    out = []
    for key, labels in _test_split(build_seed):
        if len(out) == count:
            break
        audio, _ = render_item(Item("song", key))
        out.append((labels, audio))
    return out


def _test_split(build_seed: int) -> Iterator[tuple[int, SongLabels]]:
    from hiermusic.corpus.arranger import arrange
    from hiermusic.corpus.build import SONG_KEY_STRIDE
    from hiermusic.corpus.song_spec import compose_spec

    key = build_seed * SONG_KEY_STRIDE
    while True:
        _, labels = arrange(compose_spec(key))  # cheap: the spec and labels, no audio yet
        if split_of(labels.song_id, build_seed) == "test":
            yield key, labels
        key += 1
