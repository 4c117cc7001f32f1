"""What the fine-token trainer reads: a built corpus's songs with all their
codebooks, each with a plan made from its labels and chunked by the
scheduler's own functions, so a training chunk reaches the model through the
path a served chunk takes: services.common.chunk_layout.chunk_context (what the
scheduler sends) -> services.common.chunk_context.decode_context (what the
service checks) -> PlanContext.from_chunks (what the plugin feeds the model).

Plans come from services/semantic/label_plans.py, as the acoustic trainer's
do, so both chunk levels train on the very same plan of a song: the corpus's
semantic tokens, the labelled form, and the text and section embeddings the
semantic plugin computes for it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context, layout
from hiermusic.services.common.chunk_context import decode_context
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs
from hiermusic.services.semantic.label_plans import PlanConditioner, corpus_plans


@dataclass
class Song:
    song_id: str
    split: str
    codes: torch.Tensor  # int16 [codebooks, T], every RVQ level at the frame rate
    plan: PlanArrays  # the plan the scheduler would hold for this song
    chunks: list[Chunk]  # the scheduler's layout of its T frames
    # Each chunk's context, made once (as the acoustic trainer's songs keep theirs).
    contexts: dict[int, ChunkInputs] = field(default_factory=dict, repr=False)


def load_songs(
    data_dir: Path, space: TokenSpaceConfig, chunk_frames: int, overlap_frames: int, conditioner: PlanConditioner
) -> list[Song]:
    """Every corpus song, its tokens checked against the token space."""
    return [Song(labels.song_id, split, torch.from_numpy(np.ascontiguousarray(codes, np.int16)), plan,
                 layout(codes.shape[1], chunk_frames, overlap_frames))
            for split, labels, codes, plan in corpus_plans(data_dir, space, conditioner)]


def chunk_inputs(song: Song, chunk: Chunk, space: TokenSpaceConfig, margin_s: float, max_frames: int) -> ChunkInputs:
    """The chunk's context exactly as the temporal service decodes it from the
    scheduler's request."""
    if chunk.index not in song.contexts:
        song.contexts[chunk.index] = decode_context(chunk_context(song.plan, chunk, space, margin_s), space, max_frames)
    return song.contexts[chunk.index]
