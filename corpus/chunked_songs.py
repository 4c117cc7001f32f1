"""Corpus songs as the chunk levels train on them: every codebook of a song's
codec tokens, the plan the semantic level would serve for its labels, and the
scheduler's chunk layout. A chunk's context takes the path a served chunk
takes: services.common.chunk_layout.chunk_context (what the scheduler sends)
-> services.common.chunk_context.decode_context (what the service checks);
services.common.plan_context.PlanContext.from_chunks then makes the model's
tensors, as the plugins do. So both chunk levels train on the very same plan
of a song, and training and serving cannot drift apart. A chunk in a return
gets its thematic memory the same way: services.common.thematic_memory
(what the scheduler sends) -> chunk_context.decode_memory (what the
acoustic service checks).

The plan comes from a PlanConditioner, which the command line builds from
the semantic level (services/semantic/label_plans.py) and hands to the
trainers: a chunk level never imports another level."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.plannable import plannable
from hiermusic.corpus.token_space import check_tokens
from hiermusic.services.common.chunk_context import decode_context, decode_memory
from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context, layout
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs
from hiermusic.services.common.thematic_memory import MemoryInputs, thematic_memory

Log = Callable[[str], None]


class PlanConditioner(Protocol):
    """Makes the plan a labelled song would be served: its semantic tokens
    laid out with its labelled form, and the text and section embeddings."""

    @property
    def version(self) -> str:
        """The model whose embeddings the plans carry (for the model card)."""
        ...

    def plans(self, songs: list[SongLabels], semantic: list[np.ndarray]) -> list[PlanArrays]:
        """semantic: each song's tokens int [T']; the plan is laid over them."""
        ...


@dataclass(frozen=True)
class Chunking:
    """The scheduler's chunk geometry, in codec frames."""

    frames: int
    overlap: int
    margin_s: float  # plan context beyond the chunk on each side

    @property
    def hop(self) -> int:
        return self.frames - self.overlap

    @classmethod
    def of(cls, chunk_s: float, overlap_s: float, margin_s: float, space: TokenSpaceConfig,
           max_frames: int) -> Chunking:
        """Seconds as frames, refused unless the chunks fit a model of
        `max_frames` frames and hop by whole semantic frames."""
        chunking = cls(int(round(chunk_s * space.frame_rate)), int(round(overlap_s * space.frame_rate)), margin_s)
        if not 0 <= chunking.overlap < chunking.frames <= max_frames:
            raise ValueError(f"chunks of {chunking.frames} frames with {chunking.overlap} overlap: the overlap must "
                             f"be shorter than the chunk and the chunk at most {max_frames} frames "
                             f"(transformer.max_len less the summary tokens)")
        if chunking.hop % space.frames_per_semantic:
            raise ValueError(f"the hop of {chunking.hop} frames must be whole semantic frames "
                             f"({space.frames_per_semantic} codec frames each)")
        return chunking


@dataclass
class Song:
    song_id: str
    split: str
    codes: torch.Tensor  # int16 [codebooks, T], every RVQ level at the frame rate
    plan: PlanArrays  # the plan the scheduler would hold for this song
    chunks: list[Chunk]  # the scheduler's layout of its T frames
    # Each chunk's context, decoded once: every step would otherwise pay the serving path again.
    contexts: dict[int, ChunkInputs] = field(default_factory=dict, repr=False)
    memories: dict[int, MemoryInputs | None] = field(default_factory=dict, repr=False)

    def context(self, chunk: Chunk, space: TokenSpaceConfig, margin_s: float, max_frames: int) -> ChunkInputs:
        """The chunk's context exactly as a chunk level's service decodes it
        from the scheduler's request."""
        if chunk.index not in self.contexts:
            message = chunk_context(self.plan, chunk, space, margin_s)
            self.contexts[chunk.index] = decode_context(message, space, max_frames)
        return self.contexts[chunk.index]

    def memory(self, chunk: Chunk, space: TokenSpaceConfig, max_frames: int) -> MemoryInputs | None:
        """The chunk's thematic memory (at most `max_frames` frames) exactly as
        the acoustic service decodes it from the scheduler's request, made from
        the song's own codes of the first occurrence; None outside a return."""
        if chunk.index not in self.memories:
            codes = self.codes[: space.coarse_codebooks].numpy().astype(np.int64)
            message = thematic_memory(self.plan, chunk, codes, space.frame_rate, max_frames)
            self.memories[chunk.index] = (None if message is None else
                                          decode_memory(message, "memory", space, max_frames, chunk.frames))
        return self.memories[chunk.index]


def load_songs(data_dir: Path, space: TokenSpaceConfig, chunking: Chunking, conditioner: PlanConditioner,
               log: Log) -> list[Song]:
    """Every corpus song with its codec tokens (checked against the token
    space first), its plan and its chunk layout."""
    songs: list[Song] = []
    filled = 0
    for name in shards.corpus_shards(data_dir):
        codes, index = shards.read_tokens(data_dir, name), shards.read_index(data_dir, name)
        by_song = shards.read_semantic(data_dir, name, space.semantic_tokenizer_id)
        semantic = [by_song[labels.song_id] for _, labels in index]
        plans = conditioner.plans([labels for _, labels in index], semantic)
        for (split, labels), tokens, plan in zip(index, semantic, plans):
            song_codes = codes[f"{labels.song_id}/codes"]
            check_tokens(labels, song_codes, tokens, space)
            filled += plannable(labels) != labels
            songs.append(Song(labels.song_id, split, torch.from_numpy(np.ascontiguousarray(song_codes, np.int16)),
                              plan, layout(song_codes.shape[1], chunking.frames, chunking.overlap)))
    if filled:
        log(f"{filled} of {len(songs)} songs lack part of a plan (tempo, key, mode, section types or energy); "
            f"defaults stand in")
    return songs
