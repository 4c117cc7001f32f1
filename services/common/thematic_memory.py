"""Thematic memory (ARCHITECTURE.md §2): for a chunk that writes frames of a
returning section, the frames of that section's first occurrence that lie
as many bars from its start as each written frame lies from the return's.
The scheduler sends those frames' coarse codes with the chunk
(orchestrator/song.py) and the acoustic trainer gives a corpus song's to the
model the same way (corpus/chunked_songs.py), so training and serving align
a return with its first occurrence by this one function.

Choices, each a bound on what a chunk can be sent:
- Only the frames the level writes (past the chunk's overlap prefix) ask
  for memory, and of those only the ones in one return: the return that
  covers most of them (the earlier on a tie). A chunk that writes the end of
  one return and the start of another hears the larger part's memory.
- Only first-occurrence frames generated before the chunk (those before its
  first written frame) can be sent; a first occurrence that ends inside the
  chunk, and a return longer than its first occurrence, leave the written
  frames past what exists without memory: the memory is clipped, never
  wrapped or stretched. Since the alignment keeps order, what is left is
  one run of frames from the return's first written frame in the chunk.
- At most `max_frames` frames (the acoustic level's
  ModelInfo.max_memory_frames), the first ones of that run."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hiermusic.v1 import levels_pb2
from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, beat_positions
from hiermusic.services.common.tensors import encode


@dataclass(frozen=True)
class MemorySpan:
    """Which frames of the piece a chunk's memory holds."""

    of_section: int  # the first occurrence: index into the plan's sections
    chunk_offset: int  # the chunk's frame (from its start) that source[0] is aligned with
    source: np.ndarray  # int64 [n]: frames of the first occurrence, one per chunk frame from chunk_offset


@dataclass(frozen=True)
class MemoryInputs:
    """A chunk's thematic memory as a level received it, validated."""

    of_section: int
    chunk_offset: int
    codes: np.ndarray  # int64 [coarse_codebooks, n]

    @property
    def frames(self) -> int:
        return self.codes.shape[1]


def bars_of(plan: PlanArrays, times: np.ndarray) -> np.ndarray:
    """Each time's position in bars from the piece's start (beat_positions
    over the bars' first beats). Without a bar grid seconds stand in: the
    plan has one tempo, so a return and its first occurrence line up alike."""
    if len(plan.downbeats) < 2:
        return np.asarray(times, np.float64)
    return beat_positions(plan.downbeats, times)


def times_of(plan: PlanArrays, bars: np.ndarray) -> np.ndarray:
    """The inverse of bars_of: seconds at each position in bars."""
    if len(plan.downbeats) < 2:
        return np.asarray(bars, np.float64)
    marks = np.asarray(plan.downbeats, np.float64)
    i = np.clip(np.floor(bars).astype(np.int64), 0, len(marks) - 2)
    return marks[i] + (bars - i) * (marks[i + 1] - marks[i])


def memory_span(plan: PlanArrays, chunk: Chunk, frame_rate: float, max_frames: int) -> MemorySpan | None:
    """The first-occurrence frames aligned by bar with the frames `chunk`
    writes of a return (the module's notes say which); None when it writes
    none, or none has a generated first-occurrence frame to hear."""
    repeat_of = plan.section_repeat_of
    returns = [i for i, j in enumerate(repeat_of) if 0 <= j < i]
    if not returns or max_frames <= 0:
        return None
    known = chunk.start + chunk.overlap  # frames the scheduler holds when it asks for this chunk
    written = np.arange(known, chunk.end)
    times = written / frame_rate
    covers = [(times >= plan.section_start_s[i]) & (times < plan.section_end_s[i]) for i in returns]
    best = int(np.argmax([c.sum() for c in covers]))
    if not covers[best].any():
        return None
    back, first = returns[best], int(repeat_of[returns[best]])
    frames = written[covers[best]]
    start_bars = bars_of(plan, np.array([plan.section_start_s[back], plan.section_start_s[first]]))
    source_s = times_of(plan, bars_of(plan, frames / frame_rate) - start_bars[0] + start_bars[1])
    source = np.rint(source_s * frame_rate).astype(np.int64)
    heard = (source_s < plan.section_end_s[first]) & (source < known)
    n = min(len(heard) if heard.all() else int(np.argmin(heard)), max_frames)
    if n == 0:
        return None
    return MemorySpan(first, int(frames[0] - chunk.start), source[:n])


def thematic_memory(
    plan: PlanArrays, chunk: Chunk, codes: np.ndarray, frame_rate: float, max_frames: int
) -> levels_pb2.ThematicMemory | None:
    """The memory a CoarseRequest carries for `chunk`, from the piece's coarse
    codes `codes` (int [coarse_codebooks, >= the chunk's first written frame]);
    None where memory_span finds nothing to send."""
    span = memory_span(plan, chunk, frame_rate, max_frames)
    if span is None:
        return None
    return levels_pb2.ThematicMemory(
        of_section=span.of_section,
        chunk_offset=span.chunk_offset,
        coarse_tokens=encode(np.asarray(codes[:, span.source], np.int64)),
    )
