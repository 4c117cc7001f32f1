"""Thematic memory as the coarse transformer hears it: each frame's plan
cross-attends to the coarse codes of the first occurrence of the section it
returns to (services/common/thematic_memory.py aligns them by bar). A key is
a memory frame's codes plus the position of the chunk frame it is aligned
with; a query is a frame's plan plus its own position, so a frame can find
the memory at its place in the bar and also look around it, to vary, not
copy. Beside it, each frame is also handed the codes of the memory frame
aligned with it directly (the aligned path), embedded by the model's own
input code embeddings: attention has to learn to find that frame before it
can use it, and behind a shut gate it hardly learns, while in the corpus 66%
of a return's first-codebook codes equal the aligned memory frame's (3.7%
two seconds off). The aligned path's own embeddings, tried first, were
random to the model, so its gate got no steady gradient and stayed shut.
Each path is added to the frame's plan through its own gate that starts at
zero (Flamingo's tanh gate): until trained, the memory changes nothing."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.nn import Attention
from hiermusic.services.common.thematic_memory import MemoryInputs


@dataclass
class MemoryBatch:
    """The memories of a batch of chunks, padded; a chunk without one has
    `present` False and what it hears is dropped."""

    codes: torch.Tensor  # long [B, K, M]
    frames: torch.Tensor  # long [B, M]: the chunk frame each memory frame is aligned with
    mask: torch.Tensor  # bool [B, M]: a real memory frame
    present: torch.Tensor  # bool [B]

    @classmethod
    def of(cls, memories: Sequence[MemoryInputs | None], codebooks: int, device: torch.device) -> MemoryBatch | None:
        """None when no chunk of the batch has a memory."""
        given = [m for m in memories if m is not None]
        if not given:
            return None
        width = max(m.frames for m in given)
        codes = torch.zeros(len(memories), codebooks, width, dtype=torch.long)
        frames = torch.zeros(len(memories), width, dtype=torch.long)
        mask = torch.zeros(len(memories), width, dtype=torch.bool)
        for i, m in enumerate(memories):
            if m is not None:
                codes[i, :, : m.frames] = torch.from_numpy(m.codes)
                frames[i, : m.frames] = m.chunk_offset + torch.arange(m.frames)
                mask[i, : m.frames] = True
        present = torch.tensor([m is not None for m in memories])
        return cls(codes.to(device), frames.to(device), mask.to(device), present.to(device))

    def slots(self, frames: int) -> torch.Tensor:
        """long [B, M]: the chunk frame each memory frame is aligned with, `frames` (one past the
        chunk's last) for padding, so a scatter into frames + 1 slots drops it."""
        return torch.where(self.mask, self.frames.clamp(max=frames - 1), frames)

    def covered(self, frames: int) -> torch.Tensor:
        """bool [B, frames]: the chunk frames a memory frame is aligned with (those in the return)."""
        out = torch.zeros(self.mask.shape[0], frames + 1, dtype=torch.bool, device=self.mask.device)
        return out.scatter(1, self.slots(frames), True)[:, :frames]


class ThematicAttention(nn.Module):
    def __init__(self, space: TokenSpaceConfig, dim: int, heads: int, positions: int) -> None:
        """`positions`: chunk frames it can place (the transformer's max_len covers every chunk)."""
        super().__init__()
        self.code_emb = nn.ModuleList(nn.Embedding(space.codebook_size, dim) for _ in range(space.coarse_codebooks))
        self.pos = nn.Embedding(positions, dim)
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, 0.0)
        # tanh(0) = 0: weights trained before the memory existed serve unchanged (level.load_or_init).
        self.gate = nn.Parameter(torch.zeros(()))
        self.aligned_gate = nn.Parameter(torch.zeros(()))

    def gates(self) -> list[nn.Parameter]:
        """The scalars that open each path (the trainer gives them their own rate)."""
        return [self.gate, self.aligned_gate]

    def forward(self, frame_plan: torch.Tensor, memory: MemoryBatch, code_emb: Sequence[nn.Embedding]) -> torch.Tensor:
        """frame_plan [B, T, D] with what each frame hears of its memory added;
        `code_emb`: the model's input embedding of each coarse codebook."""
        t = frame_plan.shape[1]
        keys = sum(emb(memory.codes[:, k]) for k, emb in enumerate(self.code_emb)) + self.pos(memory.frames)
        codes = sum(emb(memory.codes[:, k]) for k, emb in enumerate(code_emb))  # [B, M, D]
        queries = self.norm(frame_plan + self.pos(torch.arange(t, device=frame_plan.device))[None])
        # A chunk with no memory attends to its padding (attention over no key at all is NaN); dropped below.
        heard = self.attn(queries, keys, key_mask=memory.mask | ~memory.present[:, None])  # [B, T, D]
        heard = heard * memory.present[:, None, None]
        aligned = self.aligned(codes, memory, t)
        return frame_plan + torch.tanh(self.gate) * heard + torch.tanh(self.aligned_gate) * aligned

    @staticmethod
    def aligned(codes: torch.Tensor, memory: MemoryBatch, frames: int) -> torch.Tensor:
        """[B, frames, D]: at each chunk frame the embedded codes of the memory frame aligned with it, 0 elsewhere."""
        b, _, d = codes.shape
        out = torch.zeros(b, frames + 1, d, dtype=codes.dtype, device=codes.device)
        out = out.scatter_add(1, memory.slots(frames)[..., None].expand(-1, -1, d), codes * memory.mask[..., None])
        return out[:, :frames]
