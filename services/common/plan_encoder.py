"""The plan as a chunk level's cross-attention memory, shared by the acoustic
and temporal models: the text embedding, each section the chunk touches with
its energy, and the semantic tokens of the chunk's window with their
positions. What each frame hears of the plan at its own time differs
between the levels and stays with each model."""
from __future__ import annotations

import torch
from torch import nn

from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.plan_context import PlanContext


class PlanEncoder(nn.Module):
    def __init__(self, space: TokenSpaceConfig, dim: int, semantic_positions: int, semantic_margin: int) -> None:
        """Semantic positions are counted from the chunk's first semantic
        token, so they mean the same whatever window the scheduler sends;
        learned for offsets -margin .. positions-margin-1, clipped beyond."""
        super().__init__()
        self.semantic_positions, self.semantic_margin = semantic_positions, semantic_margin
        self.text = nn.Linear(space.embedding_dim, dim)
        self.section = nn.Linear(space.embedding_dim, dim)
        self.energy = nn.Linear(1, dim)
        self.semantic = nn.Embedding(space.semantic_vocab_size, dim)
        self.semantic_pos = nn.Embedding(semantic_positions, dim)

    def forward(self, plan: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory [B, 1 + S + L, D] and its mask [B, 1 + S + L] (True: attend)."""
        text = self.text(plan.text)[:, None]  # [B, 1, D]
        sections = self.section(plan.sections) + self.energy(plan.section_energy[..., None])  # [B, S, D]
        positions = (plan.semantic_offset + self.semantic_margin).clamp(0, self.semantic_positions - 1)  # [B, L]
        semantic = self.semantic(plan.semantic) + self.semantic_pos(positions)  # [B, L, D]
        text_mask = plan.section_mask.new_ones(text.shape[0], 1)
        mask = torch.cat([text_mask, plan.section_mask, plan.semantic_mask], dim=1)
        return torch.cat([text, sections, semantic], dim=1), mask
