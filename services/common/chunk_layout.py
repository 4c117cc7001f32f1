"""The piece as overlapping chunks and each chunk's slice of the plan: what
the scheduler sends a chunk level, and what the chunk levels train on, so
both see a chunk the same way."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hiermusic.v1 import levels_pb2
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.limits import MAX_DURATION_S, MAX_SEMANTIC_MARGIN_S
from hiermusic.services.common.tensors import encode


# The mesh's chunking, which the chunk levels are trained for: 5 s chunks
# sharing 1 s, the plan's context reaching 1 s beyond each side.
CHUNK_S = 5.0
OVERLAP_S = 1.0
SEMANTIC_MARGIN_S = 1.0


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first codec frame
    end: int  # one past the last frame
    overlap: int  # frames shared with the previous chunk (0 for the first)

    @property
    def frames(self) -> int:
        return self.end - self.start


def layout(total_frames: int, chunk_frames: int, overlap_frames: int, first_frames: int = 0) -> list[Chunk]:
    """Chunks of chunk_frames, each sharing overlap_frames with the one before;
    the first is first_frames long when that is set (and shorter than a
    chunk), so the first audio comes sooner: a listener waits for the first
    chunk only."""
    first = min(first_frames or chunk_frames, chunk_frames)
    if not 0 <= overlap_frames < first:
        raise ValueError(f"overlap {overlap_frames} frames must be shorter than the chunk ({first})")
    chunks = [Chunk(0, 0, min(first, total_frames), 0)]
    while chunks[-1].end < total_frames:
        start = chunks[-1].end - overlap_frames
        chunks.append(Chunk(len(chunks), start, min(start + chunk_frames, total_frames), overlap_frames))
    return chunks


@dataclass
class PlanArrays:
    semantic_tokens: np.ndarray  # int64 [n <= T_sem]: the tokens planned so far
    frame_sections: np.ndarray  # int64 [T_sem]
    section_embeddings: np.ndarray  # float32 [S, E]
    section_energy: np.ndarray  # float32 [S]
    text_embedding: np.ndarray  # float32 [E]
    # The beat grid: seconds of every beat and of every bar's first beat;
    # empty when the plan has none, and the context then carries no beats.
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    drums: int = levels_pb2.DRUMS_UNSAID  # a levels_pb2.Drums value
    # Per section [S]: its drums (the piece's where it says none of its own)
    # and its rule-breaks; empty: `drums` throughout, no rule-breaks.
    section_drums: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    section_modal_interchange: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    section_displacement: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # Per section [S]: its span in seconds and the section it brings back
    # (repeat_of, below its own index on a return), which thematic memory
    # (thematic_memory.py) is built from; empty: no returns known.
    section_start_s: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    section_end_s: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    section_repeat_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def beat_positions(marks: np.ndarray, times: np.ndarray) -> np.ndarray:
    """How many marks (beats, or bars' first beats) lie before each time,
    fractionally: 2.5 is halfway from the third mark to the fourth. Before the
    first mark and after the last the nearest interval is carried on, so a
    pickup before bar 1 counts down from 0. marks ascending, >= 2 of them."""
    marks = np.asarray(marks, dtype=np.float64)
    i = np.clip(np.searchsorted(marks, times, side="right") - 1, 0, len(marks) - 2)
    return i + (times - marks[i]) / (marks[i + 1] - marks[i])


def frame_beats(plan: PlanArrays, chunk: Chunk, frame_rate: float) -> np.ndarray | None:
    """float32 [frames, 2]: each frame's position in beats and in bars; None
    without a grid of at least two beats and two bars."""
    if len(plan.beats) < 2 or len(plan.downbeats) < 2:
        return None
    times = np.arange(chunk.start, chunk.end) / frame_rate
    return np.stack([beat_positions(plan.beats, times), beat_positions(plan.downbeats, times)], axis=1).astype(np.float32)


def semantic_frames(duration_s: float, rate: float) -> int:
    """The piece's semantic frames, ceil(duration_s * rate), immune to float
    noise such as 1.2 * 12.5 = 15.000000000000002: the plan and the semantic
    tokenizer must count the same frames."""
    return math.ceil(round(duration_s * rate, 6))


def semantic_span(chunk: Chunk, space: TokenSpaceConfig, margin_s: float, total: int) -> tuple[int, int]:
    """The semantic frames [lo, hi) a chunk's context holds: its span plus
    `margin_s` each side, within the piece's `total` frames."""
    if not 0 <= margin_s <= MAX_SEMANTIC_MARGIN_S:  # past it the levels refuse the context's tokens
        raise ValueError(f"semantic_margin_s {margin_s!r}: expected 0 to {MAX_SEMANTIC_MARGIN_S:g} seconds")
    per_sem = space.frames_per_semantic
    margin = int(round(margin_s * space.semantic_rate))
    lo = max(0, min(chunk.start // per_sem - margin, total - 1))
    return lo, min(total, math.ceil(chunk.end / per_sem) + margin)


def max_semantic_tokens(space: TokenSpaceConfig, max_frames: int) -> int:
    """The most semantic tokens a chunk context can need: semantic_span of a
    chunk of `max_frames` frames (the level's longest) at the widest margin.
    A chunk starting on a token's last frame touches the most tokens,
    ceil((max_frames + frames_per_semantic - 1) / frames_per_semantic)."""
    per_sem = space.frames_per_semantic
    margin = int(round(MAX_SEMANTIC_MARGIN_S * space.semantic_rate))
    return math.ceil((max_frames + per_sem - 1) / per_sem) + 2 * margin


def piece_frames(space: TokenSpaceConfig) -> int:
    """Codec frames of the longest piece (MAX_DURATION_S): no chunk lies past them."""
    return math.ceil(MAX_DURATION_S * space.frame_rate)


def chunk_context(
    plan: PlanArrays, chunk: Chunk, space: TokenSpaceConfig, margin_s: float
) -> levels_pb2.ChunkContext:
    """The plan over the chunk's span plus a margin, with only the sections it
    touches (re-indexed from 0). The plan's tokens may still be coming in
    (orchestrator/plan_reader.py) but must reach the span's end."""
    lo, hi = semantic_span(chunk, space, margin_s, len(plan.frame_sections))
    if len(plan.semantic_tokens) < hi:
        raise ValueError(f"chunk {chunk.index} needs the plan's tokens up to frame {hi}, "
                         f"{len(plan.semantic_tokens)} are planned so far")
    sections, local = np.unique(plan.frame_sections[lo:hi], return_inverse=True)
    context = levels_pb2.ChunkContext(
        chunk_index=chunk.index,
        start_frame=chunk.start,
        num_frames=chunk.frames,
        semantic_start=lo,
        semantic_tokens=encode(plan.semantic_tokens[lo:hi]),
        frame_sections=encode(local.astype(np.int64)),
        section_embeddings=encode(plan.section_embeddings[sections]),
        text_embedding=encode(plan.text_embedding),
        section_energy=plan.section_energy[sections].tolist(),
        drums=plan.drums,
    )
    if len(plan.section_drums):
        context.section_drums.extend(plan.section_drums[sections].tolist())
    if len(plan.section_modal_interchange):
        context.section_modal_interchange.extend(plan.section_modal_interchange[sections].tolist())
    if len(plan.section_displacement):
        context.section_displacement.extend(plan.section_displacement[sections].tolist())
    beats = frame_beats(plan, chunk, space.frame_rate)
    if beats is not None:
        context.frame_beats.CopyFrom(encode(beats))
    return context
