"""The acoustic level's training data: corpus songs as the scheduler would
chunk them, and batches of those chunks built by the very functions that
serve a request, so training and inference cannot drift apart.

A song's coarse codes (RVQ levels 1-2) are the targets. Its plan is the one
the semantic level would serve for its labels (services/semantic/label_plans.py):
the corpus's semantic tokens, the labelled form, and the text and section
embeddings the semantic plugin computes for it. Each chunk's context then
goes through `chunk_context` (what the scheduler sends), `decode_context`
(what the service checks) and `plan_memory` (what the plugin feeds the
model)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context, layout
from hiermusic.services.acoustic.coarse_model import PlanMemory
from hiermusic.services.acoustic.plugin import plan_memory
from hiermusic.services.common.chunk_context import decode_context
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.semantic.label_plans import PlanConditioner, corpus_plans, plannable

Log = Callable[[str], None]
CPU = torch.device("cpu")


@dataclass(frozen=True)
class Chunking:
    """The scheduler's chunk geometry, in codec frames."""

    frames: int
    overlap: int
    margin_s: float  # plan context beyond the chunk on each side

    @property
    def hop(self) -> int:
        return self.frames - self.overlap


@dataclass
class Song:
    song_id: str
    split: str
    codes: torch.Tensor  # int64 [coarse_codebooks, T] codec frames
    plan: PlanArrays
    chunks: list[Chunk]  # as the scheduler lays out a piece of T frames
    # Each chunk's model inputs, made once: the serving path costs about a
    # millisecond of CPU a chunk, which every step would otherwise pay again.
    memories: dict[int, PlanMemory] = field(default_factory=dict, repr=False)

    def memory(self, chunk: Chunk, space: TokenSpaceConfig, chunking: Chunking, max_frames: int) -> PlanMemory:
        """The chunk's plan as the plugin feeds it to the model (batch of one, on the CPU)."""
        if chunk.index not in self.memories:
            ctx = decode_context(chunk_context(self.plan, chunk, space, chunking.margin_s), space, max_frames)
            self.memories[chunk.index] = plan_memory(ctx, space, CPU)
        return self.memories[chunk.index]


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
    plan: PlanMemory
    frames: torch.Tensor  # bool [B, T], real frames (none for a window with no chunk at this slot)
    generated: torch.Tensor  # bool [B, T], frames the level writes at inference: not the overlap prefix
    opens: torch.Tensor  # bool [B], the chunk is its song's first: no summary comes in
    continues: torch.Tensor  # bool [B], a real chunk whose predecessor is in this walk


def load_songs(data_dir: Path, space: TokenSpaceConfig, chunking: Chunking, conditioner: PlanConditioner,
               log: Log) -> list[Song]:
    """Every corpus song with its coarse codes, plan and chunk layout; the
    tokens are checked against the token space first."""
    songs: list[Song] = []
    filled = 0
    for split, labels, codes, plan in corpus_plans(data_dir, space, conditioner):
        filled += plannable(labels) != labels
        songs.append(Song(labels.song_id, split, torch.from_numpy(codes[: space.coarse_codebooks].astype(np.int64)),
                          plan, layout(codes.shape[1], chunking.frames, chunking.overlap)))
    if filled:
        log(f"{filled} of {len(songs)} songs lack part of a plan (tempo, key, mode, section types or energy); "
            f"defaults stand in")
    return songs


def training_windows(songs: list[Song], count: int) -> list[Window]:
    """Every run of `count` consecutive chunks (a song with fewer gives all it has)."""
    return [Window(s, first, min(count, len(s.chunks)))
            for s in songs for first in range(max(1, len(s.chunks) - count + 1))]


def whole_songs(songs: list[Song]) -> list[Window]:
    """Each song walked from its first chunk to its last, as it is generated."""
    return [Window(s, 0, len(s.chunks)) for s in songs]


def chunk_batch(windows: list[Window], slot: int, space: TokenSpaceConfig, chunking: Chunking,
                max_frames: int, device: torch.device) -> ChunkBatch:
    """Chunk `first + slot` of every window; slot -1 is the chunk before the
    window (its summary warms the window's first chunk). A window without
    that chunk gets a stand-in with no real frames."""
    t = chunking.frames
    codes, plans, frames, generated, opens, continues = [], [], [], [], [], []
    for w in windows:
        index = w.first + slot
        real = 0 <= index < w.first + w.count
        chunk = w.song.chunks[index if real else 0]
        plans.append(w.song.memory(chunk, space, chunking, max_frames))
        codes.append(w.song.codes[:, chunk.start : chunk.end])  # [K, frames]
        position = torch.arange(t)
        frames.append(position < (chunk.frames if real else 0))
        generated.append(frames[-1] & (position >= chunk.overlap))
        opens.append(chunk.index == 0)
        continues.append(real and chunk.index > 0 and slot > -1)
    pad = torch.zeros(len(windows), space.coarse_codebooks, t, dtype=torch.long)
    for i, c in enumerate(codes):
        pad[i, :, : c.shape[1]] = c
    return ChunkBatch(
        codes=pad.to(device),
        plan=stack_plans(plans, t, device),
        frames=torch.stack(frames).to(device),
        generated=torch.stack(generated).to(device),
        opens=torch.tensor(opens, device=device),
        continues=torch.tensor(continues, device=device),
    )


def stack_plans(plans: list[PlanMemory], frames: int, device: torch.device) -> PlanMemory:
    """Single-chunk plans (batch of one) -> one batch, padded, with masks."""

    def pad(rows: list[torch.Tensor], length: int | None = None) -> torch.Tensor:
        out = pad_sequence(rows, batch_first=True)
        if length is not None and out.shape[1] < length:
            out = torch.cat([out, out.new_zeros(out.shape[0], length - out.shape[1], *out.shape[2:])], dim=1)
        return out.to(device)

    def mask(rows: list[torch.Tensor]) -> torch.Tensor:
        return pad([torch.ones(len(r), dtype=torch.bool) for r in rows])

    sections = [p.sections[0] for p in plans]  # [k, E] each
    semantic = [p.semantic[0] for p in plans]  # [s] each
    return PlanMemory(
        text=torch.cat([p.text for p in plans]).to(device),
        sections=pad(sections),
        energy=pad([p.energy[0] for p in plans]),
        semantic=pad(semantic),
        semantic_pos=pad([p.semantic_pos[0] for p in plans]),
        frame_semantic=pad([p.frame_semantic[0] for p in plans], frames),
        frame_section=pad([p.frame_section[0] for p in plans], frames),
        section_mask=mask(sections),
        semantic_mask=mask(semantic),
        frame_beats=pad([p.frame_beats[0] if p.frame_beats is not None
                         else torch.full((len(p.frame_semantic[0]), 2), float("nan")) for p in plans], frames),
        drums=torch.cat([p.drums if p.drums is not None else torch.zeros(1, dtype=torch.long) for p in plans]).to(device),
    )
