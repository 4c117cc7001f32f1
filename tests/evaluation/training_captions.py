"""The corpus's training captions, for checking that an evaluation prompt is
not one of them nor close to one. Made once per test process: 2,000 captions
take about 7 s."""
from __future__ import annotations

import functools
import re

import numpy as np

from hiermusic.corpus.arranger import CAPTION_STREAM
from hiermusic.corpus.captions import caption
from hiermusic.corpus.song_spec import compose_spec

CAPTION_SEEDS = range(2000)
MAX_TRIGRAM_JACCARD = 0.25


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9#']+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


@functools.cache
def _captions() -> tuple[frozenset[str], tuple[frozenset[tuple[str, ...]], ...]]:
    captions = [caption(compose_spec(s), np.random.default_rng([s, CAPTION_STREAM])) for s in CAPTION_SEEDS]
    return frozenset(c.lower().strip(" .") for c in captions), tuple(frozenset(trigrams(c)) for c in captions)


def is_a_caption(prompt: str) -> bool:
    return prompt.lower().strip(" .") in _captions()[0]


def closest_caption_likeness(prompt: str) -> float:
    """The largest Jaccard likeness of the prompt's word trigrams to a caption's."""
    grams = trigrams(prompt)
    return max(len(grams & c) / len(grams | c) for c in _captions()[1])
