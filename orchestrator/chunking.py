"""The piece as overlapping chunks, each chunk's slice of the plan, and the
overlap-add crossfade that joins rendered chunks into one stream."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from protos.hiermusic.v1 import levels_pb2
from services.common.contract import TokenSpaceConfig
from services.common.tensors import encode


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first codec frame
    end: int  # one past the last frame
    overlap: int  # frames shared with the previous chunk (0 for the first)

    @property
    def frames(self) -> int:
        return self.end - self.start


def layout(total_frames: int, chunk_frames: int, overlap_frames: int) -> list[Chunk]:
    if not 0 <= overlap_frames < chunk_frames:
        raise ValueError(f"overlap {overlap_frames} frames must be shorter than the chunk ({chunk_frames})")
    chunks, start = [], 0
    while True:
        end = min(start + chunk_frames, total_frames)
        chunks.append(Chunk(len(chunks), start, end, 0 if not chunks else chunks[-1].end - start))
        if end >= total_frames:
            return chunks
        start += chunk_frames - overlap_frames


@dataclass
class PlanArrays:
    semantic_tokens: np.ndarray  # int64 [T_sem]
    frame_sections: np.ndarray  # int64 [T_sem]
    section_embeddings: np.ndarray  # float32 [S, E]
    section_energy: np.ndarray  # float32 [S]
    text_embedding: np.ndarray  # float32 [E]


def chunk_context(
    plan: PlanArrays, chunk: Chunk, space: TokenSpaceConfig, margin_s: float
) -> levels_pb2.ChunkContext:
    """The plan over the chunk's span plus a margin, with only the sections it
    touches (re-indexed from 0)."""
    per_sem = space.frames_per_semantic
    margin = int(round(margin_s * space.semantic_rate))
    total = len(plan.semantic_tokens)
    lo = max(0, min(chunk.start // per_sem - margin, total - 1))
    hi = min(total, math.ceil(chunk.end / per_sem) + margin)
    sections, local = np.unique(plan.frame_sections[lo:hi], return_inverse=True)
    return levels_pb2.ChunkContext(
        chunk_index=chunk.index,
        start_frame=chunk.start,
        num_frames=chunk.frames,
        semantic_start=lo,
        semantic_tokens=encode(plan.semantic_tokens[lo:hi]),
        frame_sections=encode(local.astype(np.int64)),
        section_embeddings=encode(plan.section_embeddings[sections]),
        text_embedding=encode(plan.text_embedding),
        section_energy=plan.section_energy[sections].tolist(),
    )


class Crossfader:
    """Joins chunk audio by a linear overlap-add over each overlap zone. The
    tail that the next chunk will overlap is held back until it arrives, so
    every emitted sample is final."""

    def __init__(self, hop: int) -> None:
        self.hop = hop
        self._tail = np.zeros(0, dtype=np.float32)

    def add(self, chunk: Chunk, audio: np.ndarray, next_chunk: Chunk | None) -> np.ndarray:
        lap = chunk.overlap * self.hop
        if lap:
            # Linear suits the overlap: both sides decode the same coarse tokens.
            fade = np.linspace(0.0, 1.0, lap + 2, dtype=np.float32)[1:-1]
            audio = audio.copy()
            audio[:lap] = self._tail[:lap] * (1.0 - fade) + audio[:lap] * fade
        if next_chunk is None:
            self._tail = np.zeros(0, dtype=np.float32)
            return audio
        keep = (next_chunk.start - chunk.start) * self.hop
        self._tail = audio[keep:]
        return audio[:keep]
