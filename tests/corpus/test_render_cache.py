"""A trainer's render cache keeps its work as it goes: an interrupted first
render leaves the songs rendered so far, under the key that made them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hiermusic.corpus.render_cache import read_cache, render_into
from tests.services.tiny_corpus import user_audio


def test_an_interrupted_render_keeps_the_songs_saved_so_far(tmp_path) -> None:
    songs = [user_audio(tmp_path / f"{n}.wav", np.full(2400, 0.1 * n, np.float32), 24000, f"song {n}", 0.1, n,
                        "train") for n in range(5)]
    missing = [("train", song.labels) for song in songs]

    def keep(split, labels, audio):
        if labels.caption == "song 3":
            raise KeyboardInterrupt  # the session ends here
        return {labels.song_id: torch.from_numpy(audio[:10].copy())}

    cache, stored = tmp_path / "cache.safetensors", {}
    with pytest.raises(KeyboardInterrupt):
        render_into(cache, "key-1", stored, missing, keep, "", lambda _: None, save_every=2)
    kept = read_cache(cache, "key-1", lambda _: None)
    assert sorted(kept) == sorted(song.labels.song_id for song in songs[:2])
    assert read_cache(cache, "key-2", lambda _: None) == {}  # other settings: rebuilt, not reused
