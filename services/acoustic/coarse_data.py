"""The acoustic level's training batches: windows of consecutive chunks of
corpus songs (corpus/chunked_songs.py loads them as the scheduler would
chunk them), one chunk of each window at a time. A song's coarse codes (RVQ
levels 1-2) are the targets; each chunk's plan reaches the model through
the path a served chunk takes, ending in PlanContext.from_chunks as in the
plugin; a chunk in a return gets its thematic memory as served, too."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from hiermusic.corpus.chunked_songs import Chunking, Song
from hiermusic.services.acoustic.thematic_attention import MemoryBatch
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.plan_context import PlanContext


@dataclass(frozen=True)
class Window:
    """`count` consecutive chunks of one song, from chunk `first`."""

    song: Song
    first: int
    count: int


@dataclass
class ChunkBatch:
    """One chunk of each window, padded to the chunk length."""

    codes: torch.Tensor  # int64 [B, K, T], 0 past a song's end
    plan: PlanContext
    frames: torch.Tensor  # bool [B, T], real frames (none for a window with no chunk at this slot)
    generated: torch.Tensor  # bool [B, T], frames the level writes at inference: not the overlap prefix
    opens: torch.Tensor  # bool [B], the chunk is its song's first: no summary comes in
    continues: torch.Tensor  # bool [B], a real chunk whose predecessor is in this walk
    memory: MemoryBatch | None = None  # the thematic memory of the chunks in a return; None: no such chunk


def training_windows(songs: list[Song], count: int) -> list[Window]:
    """Every run of `count` consecutive chunks (a song with fewer gives all it has)."""
    return [Window(s, first, min(count, len(s.chunks)))
            for s in songs for first in range(max(1, len(s.chunks) - count + 1))]


def whole_songs(songs: list[Song]) -> list[Window]:
    """Each song walked from its first chunk to its last, as it is generated."""
    return [Window(s, 0, len(s.chunks)) for s in songs]


def chunk_batch(windows: list[Window], slot: int, space: TokenSpaceConfig, chunking: Chunking,
                max_frames: int, device: torch.device, max_memory_frames: int = 0) -> ChunkBatch:
    """Chunk `first + slot` of every window; slot -1 is the chunk before the
    window (its summary warms the window's first chunk). A window without
    that chunk gets a stand-in with no real frames (and no memory). Thematic
    memory of at most `max_memory_frames` frames (0: none)."""
    t, k = chunking.frames, space.coarse_codebooks
    codes = torch.zeros(len(windows), k, t, dtype=torch.long)
    contexts, memories, frames, generated, opens, continues = [], [], [], [], [], []
    for i, w in enumerate(windows):
        index = w.first + slot
        real = 0 <= index < w.first + w.count
        chunk = w.song.chunks[index if real else 0]
        contexts.append(w.song.context(chunk, space, chunking.margin_s, max_frames))
        memories.append(w.song.memory(chunk, space, max_memory_frames) if real and max_memory_frames else None)
        codes[i, :, : chunk.frames] = w.song.codes[:k, chunk.start : chunk.end]
        position = torch.arange(t)
        frames.append(position < (chunk.frames if real else 0))
        generated.append(frames[-1] & (position >= chunk.overlap))
        opens.append(chunk.index == 0)
        continues.append(real and chunk.index > 0 and slot > -1)
    return ChunkBatch(
        codes=codes.to(device),
        plan=PlanContext.from_chunks(contexts, t, space.frames_per_semantic, device),
        frames=torch.stack(frames).to(device),
        generated=torch.stack(generated).to(device),
        opens=torch.tensor(opens, device=device),
        continues=torch.tensor(continues, device=device),
        memory=MemoryBatch.of(memories, k, device),
    )
