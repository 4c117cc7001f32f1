"""The acoustic level's default model plugin: the coarse transformer."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from hiermusic.v1 import contract_pb2
from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer
from hiermusic.services.acoustic.sampling import CoarseSampling
from hiermusic.services.acoustic.thematic_attention import MemoryBatch
from hiermusic.services.common.level import ChunkInputs, ChunkLevelPlugin, load_or_init, model_info, sampling_settings
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.common.thematic_memory import MemoryInputs


class CoarseTransformerPlugin(ChunkLevelPlugin):
    name: ClassVar[str] = "coarse_transformer"
    level: ClassVar[str] = "acoustic"

    def __init__(self, checkpoint: Path | None, device: torch.device,
                 sampling: Mapping[str, Any] | None = None) -> None:
        """`sampling`: fields of CoarseSampling over the card's."""
        self.device = device
        self.loaded = load_or_init(self.name, self.level, CoarseConfig, CoarseTransformer, checkpoint, device)
        self.sampling = sampling_settings(CoarseSampling, self.loaded.card, sampling or {})
        self.model: CoarseTransformer = self.loaded.module  # type: ignore[assignment]

    @property
    def max_memory_frames(self) -> int:
        """Longest thematic memory: the config's, within the longest chunk it is aligned with."""
        return min(self.loaded.config.max_memory_frames, self.max_frames)

    def info(self) -> contract_pb2.ModelInfo:
        return model_info(
            self.level, self.name, self.loaded, self.token_space, self.device, max_chunk_frames=self.max_frames,
            max_memory_frames=self.max_memory_frames,
        )

    def generate(
        self,
        ctx: ChunkInputs,
        summary: np.ndarray | None,
        prefix: np.ndarray | None,
        seed: int,
        temperature: float,
        top_k: int,
        memory: MemoryInputs | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coarse codes int64 [coarse_codebooks, num_frames] (the prefix kept as
        given) and the summary float32 [summary_tokens, summary_dim];
        `memory`: the thematic memory of a chunk in a return."""
        generator = torch.Generator().manual_seed(seed)
        summary_t = torch.from_numpy(summary)[None].to(self.device) if summary is not None else None
        prefix_t = torch.from_numpy(prefix)[None].to(self.device) if prefix is not None else None
        codes, summary_out = self.model.generate(
            PlanContext.from_chunks([ctx], ctx.num_frames, self.token_space.frames_per_semantic, self.device),
            summary_t,
            prefix_t,
            ctx.num_frames,
            temperature or self.sampling.temperature,
            top_k or self.sampling.top_k,
            generator,
            drums_floor=self.sampling.drums_floor,
            theme=MemoryBatch.of([memory], self.token_space.coarse_codebooks, self.device),
        )
        return codes[0].cpu().numpy(), summary_out[0].float().cpu().numpy()
