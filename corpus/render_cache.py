"""What a trainer keeps of rendered corpus songs, in one safetensors file.

Songs are never stored as audio, so a trainer that needs audio renders each
song once (corpus.build re-renders deterministically) and keeps only what it
needs of it (log-mel frames, int16 excerpts) in a cache file. The file's
metadata holds a key naming the corpus and the settings that made it: a
cache made from another corpus or with other settings is rebuilt, never
reused."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from hiermusic.corpus.labels import SongLabels

Log = Callable[[str], None]
Keep = Callable[[str, SongLabels, np.ndarray], dict[str, torch.Tensor]]  # (split, labels, audio) -> tensors


def read_cache(path: Path, key: str, log: Log) -> dict[str, torch.Tensor]:
    """The tensors of the cache at `path` when it was made with `key`, else none."""
    if not path.is_file():
        return {}
    with safe_open(str(path), "pt") as f:
        made_from = (f.metadata() or {}).get("key")
    if made_from == key:
        return load_file(str(path))
    log(f"cache {path} was made from another corpus or with other settings; rebuilding it")
    return {}


def render_into(path: Path, key: str, stored: dict[str, torch.Tensor], missing: list[tuple[str, SongLabels]],
                keep: Keep, what: str, log: Log, save_every: int = 50) -> None:
    """Renders each (split, labels) of `missing`, adds what `keep` makes of
    its audio to `stored`, and rewrites the cache with all of `stored` every
    `save_every` songs and at the end, so an interrupted first render keeps
    most of its work (the callers skip songs already in the cache).
    `what` finishes the line that says how many songs are rendered."""
    if not missing:
        return
    from hiermusic.corpus.build import audio_for

    log(f"rendering {len(missing)} songs {what}")
    started = time.monotonic()
    for i, (split, labels) in enumerate(missing, 1):
        stored.update(keep(split, labels, audio_for(labels)))
        if i % save_every == 0 or i == len(missing):
            _save(path, key, stored)
            log(f"  {i}/{len(missing)} songs, {time.monotonic() - started:.0f}s")


def _save(path: Path, key: str, stored: dict[str, torch.Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in stored.items()}, str(tmp), metadata={"key": key})
    os.replace(tmp, path)
