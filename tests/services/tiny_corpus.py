"""Tiny corpora for the trainers' tests, written in the shard layout
`data build` writes: shards, semantic tokens with their tokenizer's card, and
build.json."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.build import TOKENIZER_FILE
from hiermusic.corpus.semantic_features import FEATURE_DIM, FEATURE_NAMES
from hiermusic.corpus.semantic_tokenizer import SemanticTokenizer, TokenizerCard
from hiermusic.corpus.user_audio import UserItem, labels_for


def untokenized(labels: SongLabels, split: str) -> shards.ShardSong:
    """A song whose codec tokens and features the trainer under test never reads."""
    return shards.ShardSong(labels, split, np.zeros((8, 1), np.int16), np.zeros((1, 28), np.float16))


def user_audio(path: Path, audio: np.ndarray, sample_rate: int, caption: str, seconds: float, line: int,
               split: str) -> shards.ShardSong:
    """A user file written to `path`, so `audio_for` reads it back."""
    sf.write(path, audio, sample_rate)
    return untokenized(labels_for(UserItem(path, caption, seconds, line=line), seconds), split)


def write_corpus(root: Path, shard_songs: list[list[shards.ShardSong]], semantic: dict[str, np.ndarray] | None = None,
                 tokenizer: str = "", clusters: int = 0, meta: dict | None = None, build: dict | None = None) -> Path:
    """Writes each list of songs as one shard (with `meta`), the songs'
    `semantic` tokens by song id as tokenized by `tokenizer` of `clusters`
    clusters, and build.json (`build`, or a song count)."""
    for n, songs in enumerate(shard_songs):
        name = shards.shard_name(n)
        shards.write_shard(root, name, songs, meta or {})
        if semantic is not None:
            shards.write_semantic(root, name, {s.labels.song_id: semantic[s.labels.song_id] for s in songs}, tokenizer)
    if tokenizer:
        # Random centroids: the trainers read only the tokens' chroma from them.
        card = TokenizerCard(tokenizer, clusters, list(FEATURE_NAMES), fitted_on_frames=0, fitted_on_songs=0,
                             inertia_per_frame=0.0, seed=0)
        centroids = np.random.default_rng(0).standard_normal((clusters, FEATURE_DIM)).astype(np.float32)
        SemanticTokenizer(centroids, np.full(FEATURE_DIM, 0.5, np.float32), np.full(FEATURE_DIM, 0.1, np.float32),
                          card).save(root / TOKENIZER_FILE)
    songs = sum(len(s) for s in shard_songs)
    (root / "build.json").write_text(json.dumps(build or {"songs": songs, "manifest": "test"}))
    return root
