"""The acoustic level's default model plugin: the coarse transformer."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from hiermusic.v1 import contract_pb2, levels_pb2
from hiermusic.services.acoustic.coarse_model import SEMANTIC_POSITIONS, CoarseConfig, CoarseTransformer, PlanMemory
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs, ChunkLevelPlugin, load_or_init, model_info

# Plan tokens may start this many semantic frames before the chunk.
SEMANTIC_MARGIN = 64


def plan_memory(ctx: ChunkInputs, space: TokenSpaceConfig, device: torch.device) -> PlanMemory:
    """Tensors (batch of one) for a chunk's plan context, with each codec frame
    aligned to the semantic token that covers it."""
    per_sem = space.frames_per_semantic
    chunk_sem_start = ctx.start_frame // per_sem
    sem_index = ctx.semantic_start + np.arange(len(ctx.semantic_tokens))
    positions = np.clip(sem_index - chunk_sem_start + SEMANTIC_MARGIN, 0, SEMANTIC_POSITIONS - 1)
    frames = ctx.start_frame + np.arange(ctx.num_frames)
    aligned = np.clip(frames // per_sem - ctx.semantic_start, 0, len(ctx.semantic_tokens) - 1)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))[None].to(device)

    return PlanMemory(
        text=t(ctx.text_embedding),
        sections=t(ctx.section_embeddings),
        energy=t(ctx.section_energy),
        semantic=t(ctx.semantic_tokens),
        semantic_pos=t(positions.astype(np.int64)),
        frame_semantic=t(ctx.semantic_tokens[aligned]),
        frame_section=t(ctx.frame_sections[aligned]),
        frame_beats=t(ctx.frame_beats) if ctx.frame_beats is not None else None,
        drums=torch.tensor([ctx.drums], device=device),
    )


class CoarseTransformerPlugin(ChunkLevelPlugin):
    name: ClassVar[str] = "coarse_transformer"
    level: ClassVar[str] = "acoustic"
    DEFAULT_TEMPERATURE: ClassVar[float] = 1.0
    DEFAULT_TOP_K: ClassVar[int] = 64
    # A prompt that asks for no drums: each step keeps to the RVQ 1 codes at
    # least as often heard without drums as with them in the training corpus
    # (CoarseConfig.drums_table; weights without the table ignore it). On
    # corpus C a quarter of RVQ 1's codes come nearly only with drums (p of
    # no drums under 0.002), while RVQ 2's tell little (10-90% of codes at
    # 0.33-0.62). Ten "no drums" prompts in drummed styles, two seeds, 30 s
    # (evaluation/prompts/no_drums.jsonl): 18 of 20 drumless without the
    # floor, 20 of 20 with it on RVQ 1 alone and with it on both codebooks;
    # the standard set's p002 at seed 3 (a burst of cymbal-like noise) lost
    # its drums with either. So RVQ 1 only: it narrows the choice least.
    DRUMS_FLOOR: ClassVar[tuple[float, ...]] = (0.5, 0.0)

    def __init__(self, checkpoint: Path | None, device: torch.device) -> None:
        self.device = device
        self.loaded = load_or_init(self.name, self.level, CoarseConfig, CoarseTransformer, checkpoint, device)
        self.model: CoarseTransformer = self.loaded.module  # type: ignore[assignment]

    def info(self) -> contract_pb2.ModelInfo:
        return model_info(
            self.level, self.name, self.loaded, self.token_space, self.device, max_chunk_frames=self.max_frames
        )

    def generate(
        self,
        ctx: ChunkInputs,
        summary: np.ndarray | None,
        prefix: np.ndarray | None,
        seed: int,
        temperature: float,
        top_k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coarse codes int64 [coarse_codebooks, num_frames] (the prefix kept as
        given) and the summary float32 [summary_tokens, summary_dim]."""
        generator = torch.Generator().manual_seed(seed)
        summary_t = torch.from_numpy(summary)[None].to(self.device) if summary is not None else None
        prefix_t = torch.from_numpy(prefix)[None].to(self.device) if prefix is not None else None
        codes, summary_out = self.model.generate(
            plan_memory(ctx, self.token_space, self.device),
            summary_t,
            prefix_t,
            ctx.num_frames,
            temperature or self.DEFAULT_TEMPERATURE,
            top_k or self.DEFAULT_TOP_K,
            generator,
            drums_floor=self.DRUMS_FLOOR if ctx.drums == levels_pb2.DRUMS_UNWANTED else (),
        )
        return codes[0].cpu().numpy(), summary_out[0].float().cpu().numpy()
