from __future__ import annotations

from collections import Counter

import numpy as np

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SectionLabel, SongLabels
from hiermusic.corpus.split import split_of


def test_split_is_fixed_by_seed_and_roughly_90_5_5():
    ids = [f"song-{i:07d}" for i in range(4000)]
    counts = Counter(split_of(i, 0) for i in ids)
    assert 0.87 < counts["train"] / 4000 < 0.93 and counts["valid"] > 120 and counts["test"] > 120
    assert [split_of(i, 0) for i in ids[:50]] == [split_of(i, 0) for i in ids[:50]]
    assert [split_of(i, 1) for i in ids] != [split_of(i, 0) for i in ids]


def test_shard_round_trip(tmp_path):
    labels = SongLabels(song_id="song-0000001", source="synthetic", caption="a calm pad piece", duration_s=2.0,
                        sections=[SectionLabel("intro", 0.0, 2.0, 1, 0.3)], tempo_bpm=120.0)
    song = shards.ShardSong(labels, "train", np.arange(16, dtype=np.int16).reshape(8, 2),
                            np.ones((25, 28), dtype=np.float16))
    shards.write_shard(tmp_path, "shard-00000", [song], {"codec_version": "x"})
    assert shards.complete_shards(tmp_path) == ["shard-00000"]
    [(split, back)] = shards.read_index(tmp_path, "shard-00000")
    assert split == "train" and back == labels
    tensors = shards.read_tokens(tmp_path, "shard-00000")
    assert np.array_equal(tensors["song-0000001/codes"], song.codes)
    assert not list(tmp_path.glob("*.tmp"))
