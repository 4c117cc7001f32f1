"""A tiny corpus for the acoustic trainer, in the shard layout `data build`
writes, whose coarse codes follow a pattern a small model learns in seconds.

Chunks are 24 frames with an 8-frame overlap (a 16-frame hop), so every
chunk's overlap prefix falls on frames t with t % 16 < 8. Those frames carry
the section's pattern (readable from the plan); frames with t % 16 >= 8 carry
the song's hidden colour, which neither the plan nor a chunk's prefix shows:
a chunk can only know it from the chunk before, through the summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SectionLabel, SongLabels
from tests.services.tiny_corpus import write_corpus

FRAME_RATE = 50
HOP, OVERLAP = 16, 8
CHUNK_S, OVERLAP_S = (HOP + OVERLAP) / FRAME_RATE, OVERLAP / FRAME_RATE
SONG_FRAMES = 6 * HOP + OVERLAP  # six chunks
SECTION_FRAME = SONG_FRAMES // 2
COLOURS = 16
TOKENIZER = "feature-kmeans-64-test"
CODEBOOK_SIZE, CLUSTERS = 256, 64  # small vocabularies keep the tiny model fast


def section_of(t: np.ndarray) -> np.ndarray:
    return (t >= SECTION_FRAME).astype(np.int64)


def pattern(colour: int) -> np.ndarray:
    """Coarse codes int64 [2, SONG_FRAMES] of a song of this colour."""
    t = np.arange(SONG_FRAMES)
    first = np.where(t % HOP < OVERLAP, 10 + 8 * section_of(t) + t % HOP, 100 + colour)
    return np.stack([first, first + 100])


def semantic_tokens() -> np.ndarray:
    """Per section, a repeating figure at 12.5 tokens/s (4 codec frames each)."""
    u = np.arange(SONG_FRAMES // 4)
    return 1 + 10 * section_of(4 * u) + u % 4


def labels(song_id: str, drums: bool = False) -> SongLabels:
    half = SECTION_FRAME / FRAME_RATE
    return SongLabels(
        song_id=song_id, source="synthetic", caption="a short test song", duration_s=SONG_FRAMES / FRAME_RATE,
        sections=[SectionLabel("verse", 0.0, half, 2, 0.25), SectionLabel("chorus", half, 2 * half, 2, 0.75)],
        tempo_bpm=120.0, key="C", mode="major", drums=drums,
    )


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """32 training songs (each colour twice), 8 valid and 8 test songs; the
    songs of odd colours have drums."""
    root = tmp_path_factory.mktemp("coarse_corpus")
    rng = np.random.default_rng(0)
    colours = [("train", i % COLOURS) for i in range(32)]
    colours += [(split, int(rng.integers(COLOURS))) for split in ("valid", "test") for _ in range(8)]
    songs, semantic = [], {}
    for n, (split, colour) in enumerate(colours):
        codes = rng.integers(0, CODEBOOK_SIZE, (8, SONG_FRAMES))  # the fine codebooks: noise the level never sees
        codes[:2] = pattern(colour)
        song = shards.ShardSong(labels(f"{split}-{n:02d}", drums=colour % 2 == 1), split, codes.astype(np.int16),
                                np.zeros((SONG_FRAMES // 4, 27), np.float16))
        songs.append(song)
        semantic[song.labels.song_id] = semantic_tokens()
    return write_corpus(root, [songs], semantic, TOKENIZER, CLUSTERS)


def colour_of(song_id: str, corpus: Path) -> int:
    codes = shards.read_tokens(corpus, shards.shard_name(0))[f"{song_id}/codes"]
    return int(codes[0, OVERLAP]) - 100
