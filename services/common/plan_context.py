"""The plan as the chunk levels' models read it: a batch of chunk contexts
(services/common/chunk_context.py decodes one from a request) as padded
tensors. One builder serves the acoustic and temporal plugins and both
trainers, so a chunk's plan reaches a model the same way wherever it comes
from."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from hiermusic.services.common.level import ChunkInputs

# How far a displaced section's grid runs behind the piece's, in beats: the
# models place their onsets and accents on the grid they read, so what they
# play there lands half a beat late, off the beat the piece keeps (the
# corpus displaces its melodies by a half or a whole beat; a half beat is
# heard against the drums and measured by evaluation/rule_breaks.py).
DISPLACEMENT_BEATS = 0.5


def displaced_grid(chunk: ChunkInputs, frame_section: np.ndarray) -> np.ndarray:
    """The chunk's frame_beats [T, 2] with frames whose section the plan
    displaces (`frame_section` [>= T]: each frame's section) read
    DISPLACEMENT_BEATS earlier: beats less that, bars less as much of a bar."""
    grid = chunk.frame_beats
    if grid is None or chunk.section_displaced is None or len(grid) == 0:
        return grid
    moved = chunk.section_displaced[frame_section[: len(grid)]]
    if not moved.any():
        return grid
    if len(grid) > 1:  # bars per beat, from the grid itself: the tempo may change
        bars_per_beat = np.gradient(grid[:, 1]) / np.maximum(np.gradient(grid[:, 0]), 1e-6)
    else:
        bars_per_beat = np.full(1, 0.25)
    out = grid.copy()
    out[moved, 0] -= DISPLACEMENT_BEATS
    out[moved, 1] -= DISPLACEMENT_BEATS * bars_per_beat[moved]
    return out


@dataclass
class PlanContext:
    """True in a mask marks a real entry: chunks of a batch touch different
    numbers of sections and semantic tokens."""

    text: torch.Tensor  # float [B, E]
    sections: torch.Tensor  # float [B, S, E]
    section_energy: torch.Tensor  # float [B, S]
    section_mask: torch.Tensor  # bool [B, S]
    semantic: torch.Tensor  # long [B, L] token ids
    semantic_offset: torch.Tensor  # long [B, L]: position relative to the chunk's first semantic token
    semantic_mask: torch.Tensor  # bool [B, L]
    frame_semantic: torch.Tensor  # long [B, T]: index into `semantic` of the token each frame falls in
    frame_section: torch.Tensor  # long [B, T]: index into `sections` of each frame's section
    frame_beats: torch.Tensor  # float [B, T, 2]: beats and bars from the piece's start; NaN: no grid
    drums: torch.Tensor  # long [B], levels_pb2.Drums: 0 unsaid, 1 wanted, 2 unwanted
    frame_drums: torch.Tensor  # long [B, T]: each frame's section's Drums (the chunk's where sections say none)

    @classmethod
    def from_chunks(
        cls, chunks: Sequence[ChunkInputs], num_frames: int, frames_per_semantic: int, device: torch.device
    ) -> PlanContext:
        """Chunks padded to `num_frames` frames: frames past a shorter chunk's
        end read the plan on to its window's last semantic token, and have no
        beat grid."""

        def pad(arrays: list[np.ndarray]) -> torch.Tensor:
            # torch.tensor copies: arrays decoded from a request may be read-only buffers.
            return pad_sequence([torch.tensor(a) for a in arrays], batch_first=True).to(device)

        def lengths_mask(lengths: list[int]) -> torch.Tensor:
            return torch.arange(max(lengths), device=device)[None] < torch.tensor(lengths, device=device)[:, None]

        frame_semantic, frame_section, frame_drums, offsets = [], [], [], []
        beats = np.full((len(chunks), num_frames, 2), np.nan, np.float32)
        for i, c in enumerate(chunks):
            if len(c.semantic_tokens) == 0 or len(c.section_embeddings) == 0:
                raise ValueError(f"chunk {c.chunk_index} has no semantic tokens or no sections")
            offsets.append(c.semantic_start - c.start_frame // frames_per_semantic + np.arange(len(c.semantic_tokens)))
            frames = np.arange(c.start_frame, c.start_frame + num_frames)
            sem = np.clip(frames // frames_per_semantic - c.semantic_start, 0, len(c.semantic_tokens) - 1)
            frame_semantic.append(sem)
            frame_section.append(np.asarray(c.frame_sections)[sem])
            frame_drums.append(c.drums_of_sections()[frame_section[-1]])
            if c.frame_beats is not None:
                beats[i, : len(c.frame_beats)] = displaced_grid(c, frame_section[-1])[:num_frames]
        return cls(
            text=torch.from_numpy(np.stack([c.text_embedding for c in chunks])).float().to(device),
            sections=pad([c.section_embeddings for c in chunks]).float(),
            section_energy=pad([c.section_energy for c in chunks]).float(),
            section_mask=lengths_mask([len(c.section_embeddings) for c in chunks]),
            semantic=pad([c.semantic_tokens for c in chunks]).long(),
            semantic_offset=pad(offsets).long(),
            semantic_mask=lengths_mask([len(c.semantic_tokens) for c in chunks]),
            frame_semantic=torch.from_numpy(np.stack(frame_semantic)).long().to(device),
            frame_section=torch.from_numpy(np.stack(frame_section)).long().to(device),
            frame_beats=torch.from_numpy(beats).to(device),
            drums=torch.tensor([c.drums for c in chunks], dtype=torch.long, device=device),
            frame_drums=torch.from_numpy(np.stack(frame_drums)).long().to(device),
        )
