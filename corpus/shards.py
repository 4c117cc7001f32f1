"""Corpus shards on disk. Each shard is written whole, then renamed, so an
interrupted build never leaves half a shard that looks complete:
  shard-00012.json               labels and split of each song
  shard-00012.tokens.safetensors codec tokens [K, T] int16 and features [T', D] float16 per song
  shard-00012.semantic.safetensors semantic tokens [T'] int16 (after the tokenizer is fitted)
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from hiermusic.corpus.labels import SongLabels


@dataclass
class ShardSong:
    labels: SongLabels
    split: str
    codes: np.ndarray  # int16 [K, T]
    features: np.ndarray  # float16 [T', D]


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
    except BaseException:  # an interrupted build leaves no half-written file behind
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_shard(directory: Path, name: str, songs: list[ShardSong], meta: dict) -> None:
    tensors = {}
    for song in songs:
        tensors[f"{song.labels.song_id}/codes"] = np.ascontiguousarray(song.codes, dtype=np.int16)
        tensors[f"{song.labels.song_id}/features"] = np.ascontiguousarray(song.features, dtype=np.float16)
    _atomic(directory / f"{name}.tokens.safetensors", lambda p: save_file(tensors, str(p)))
    record = {"meta": meta, "songs": [{"split": s.split, "labels": asdict(s.labels)} for s in songs]}
    # The JSON goes last: its presence marks the shard complete.
    _atomic(directory / f"{name}.json", lambda p: p.write_text(json.dumps(record)))


def read_index(directory: Path, name: str) -> list[tuple[str, SongLabels]]:
    record = json.loads((directory / f"{name}.json").read_text())
    return [(s["split"], SongLabels.from_dict(s["labels"])) for s in record["songs"]]


def read_meta(directory: Path, name: str) -> dict:
    """What the build records of the shard (the codec that tokenized it)."""
    return json.loads((directory / f"{name}.json").read_text()).get("meta", {})


def read_tokens(directory: Path, name: str) -> dict[str, np.ndarray]:
    return load_file(str(directory / f"{name}.tokens.safetensors"))


def read_semantic(directory: Path, name: str, tokenizer_id: str) -> dict[str, np.ndarray]:
    """Each song's semantic tokens int16 [T'] by song id; refuses a shard
    not yet tokenized or tokenized by another tokenizer than `tokenizer_id`."""
    path = directory / f"{name}.semantic.safetensors"
    if not path.is_file():
        raise ValueError(f"{path} is missing: the corpus has no semantic tokens yet; finish `hiermusic data build`")
    with safe_open(str(path), "np") as f:
        made_with = (f.metadata() or {}).get("tokenizer_id")
        if made_with != tokenizer_id:
            raise ValueError(f"{path} was tokenized by {made_with}, not {tokenizer_id}")
        return {key.removesuffix("/semantic"): f.get_tensor(key) for key in f.keys()}


def write_semantic(directory: Path, name: str, tokens: dict[str, np.ndarray], tokenizer_id: str) -> None:
    arrays = {f"{song_id}/semantic": t.astype(np.int16) for song_id, t in tokens.items()}
    _atomic(
        directory / f"{name}.semantic.safetensors",
        lambda p: save_file(arrays, str(p), metadata={"tokenizer_id": tokenizer_id}),
    )


def complete_shards(directory: Path) -> list[str]:
    return sorted(p.name[: -len(".json")] for p in Path(directory).glob("shard-*.json"))


def corpus_shards(directory: Path) -> list[str]:
    """The complete shards of a corpus to train on; refuses a directory with none."""
    names = complete_shards(directory)
    if not names:
        raise ValueError(f"{directory} holds no complete corpus shards")
    return names


def corpus_index(directory: Path) -> list[tuple[str, SongLabels]]:
    """(split, labels) of every song of a corpus to train on."""
    return [entry for name in corpus_shards(directory) for entry in read_index(directory, name)]
