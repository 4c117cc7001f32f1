"""The token space a built corpus speaks: the semantic tokenizer it was
tokenized with and the codec its shards say made their codes. A model
trained on the corpus names both in its token space, and its songs are
checked against that space before any token reaches an embedding lookup."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from hiermusic.corpus import shards
from hiermusic.corpus.build import TOKENIZER_FILE
from hiermusic.corpus.codec_tokens import load_codec
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.semantic_tokenizer import TokenizerCard
from hiermusic.services.common.contract import CODEC_FIELDS, TokenSpaceConfig

CODEC_META = ("codec_plugin", "codec_version", "codec_trained", "codec_id")  # codec_id: builds since 2026-12


def read_tokenizer(data_dir: Path) -> TokenizerCard:
    """The card of the corpus's semantic tokenizer: a model speaks its tokens."""
    path = (Path(data_dir) / TOKENIZER_FILE).with_suffix(".json")
    if not path.is_file():
        raise ValueError(f"{data_dir} has no semantic tokenizer; finish it with `hiermusic data build`")
    return TokenizerCard(**json.loads(path.read_text()))


def with_tokenizer(space: TokenSpaceConfig, tokenizer: TokenizerCard) -> TokenSpaceConfig:
    return replace(space, semantic_tokenizer_id=tokenizer.tokenizer_id, semantic_vocab_size=tokenizer.clusters)


def shard_codec(data_dir: Path) -> dict:
    """The codec the shards say tokenized them ({codec_plugin, codec_version,
    codec_trained, codec_id}; empty for a corpus without shards); refuses
    shards that disagree."""
    codec = None
    for name in shards.complete_shards(data_dir):
        meta = shards.read_meta(data_dir, name)
        made_by = {k: meta.get(k) for k in CODEC_META}
        if codec is not None and made_by != codec:
            raise ValueError(f"{data_dir}: shard {name} was tokenized by {made_by}, the shards before it by {codec}")
        codec = made_by
    return codec or {}


def corpus_codec(data_dir: Path):  # -> Codec | None
    """The codec the shards name, loaded as the build loaded it (None for a
    corpus whose shards name none); refuses a checkpoint that no longer makes
    the corpus's codes."""
    made_by = shard_codec(data_dir)
    if not made_by.get("codec_plugin"):
        return None
    build_file = Path(data_dir) / "build.json"
    checkpoint = json.loads(build_file.read_text()).get("codec_checkpoint") if build_file.is_file() else None
    codec = load_codec(made_by["codec_plugin"], Path(checkpoint) if checkpoint else None)
    # The checkpoint build.json names may have been replaced since the build.
    now, then = (codec.codec_id, made_by["codec_id"]) if made_by.get("codec_id") else \
        (codec.version, made_by["codec_version"])
    if now != then:
        raise ValueError(f"{data_dir} was tokenized by codec {then}, but its codec checkpoint "
                         f"{checkpoint} is now {now}; rebuild the corpus")
    return codec


def corpus_token_space(space: TokenSpaceConfig, data_dir: Path) -> TokenSpaceConfig:
    """`space` naming the corpus's semantic tokenizer and, when the shards
    name it, the codec they were tokenized with (corpus_codec), whose fields
    the temporal level takes from the same codec."""
    space = with_tokenizer(space, read_tokenizer(data_dir))
    codec = corpus_codec(data_dir)
    if codec is not None:
        space = replace(space, **{f: getattr(codec, f) for f in CODEC_FIELDS})
    return space


def check_tokens(labels: SongLabels, codes: np.ndarray, semantic: np.ndarray, space: TokenSpaceConfig) -> None:
    """Refuses a song whose codec or semantic tokens do not fit the token space."""
    where = f"song {labels.song_id}"
    if codes.shape[0] != space.codebooks:
        raise ValueError(f"{where}: {codes.shape[0]} codebooks, the token space has {space.codebooks}")
    if codes.min() < 0 or codes.max() >= space.codebook_size:
        raise ValueError(f"{where}: codes outside [0, {space.codebook_size})")
    if semantic.min() < 0 or semantic.max() >= space.semantic_vocab_size:
        raise ValueError(f"{where}: semantic tokens outside [0, {space.semantic_vocab_size})")
    expected = labels.duration_s * space.frame_rate
    if abs(codes.shape[1] - expected) > max(2.0, 0.02 * expected):
        raise ValueError(f"{where}: {codes.shape[1]} codec frames for {labels.duration_s:.2f} s, not "
                         f"{space.frame_rate} frames/s")
