"""The temporal level's bundled plugin: the fine transformer fills in a chunk's
fine RVQ levels, then the codec turns all levels into audio."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.contract import CODEC_FIELDS, TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs, ChunkLevelPlugin, load_or_init, model_info, sampling_settings
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.common.plugins import load_plugin
from hiermusic.services.temporal.codec import Codec
from hiermusic.services.temporal.fine_model import FineConfig, FineTransformer
from hiermusic.services.temporal.energy_gain import energy_gain
from hiermusic.services.temporal.sampling import FineSampling


class FineTransformerPlugin(ChunkLevelPlugin):
    name: ClassVar[str] = "fine_transformer"
    level: ClassVar[str] = "temporal"

    def __init__(
        self,
        checkpoint: Path | None,
        device: torch.device,
        codec_plugin: str = "stft_magnitude",
        codec_checkpoint: Path | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> None:
        """`sampling`: fields of FineSampling over the card's."""
        self.device = device
        self.codec_plugin = codec_plugin
        self.codec: Codec = load_plugin("codec", codec_plugin)(codec_checkpoint, device)
        codec_space = {f: getattr(self.codec, f) for f in CODEC_FIELDS}
        default = FineConfig(token_space=replace(TokenSpaceConfig(), **codec_space))
        self.loaded = load_or_init(self.name, self.level, FineConfig, FineTransformer, checkpoint, device, default)
        differ = [
            f"{f}: checkpoint {getattr(self.token_space, f)!r}, codec {codec_space[f]!r}"
            for f in CODEC_FIELDS
            if getattr(self.token_space, f) != codec_space[f]
        ]
        if differ:
            raise ValueError(
                f"fine_transformer checkpoint {checkpoint} ({self.loaded.version}) was not made for codec plugin "
                f"{codec_plugin!r} ({self.codec.version}): " + "; ".join(differ)
            )
        self.sampling = sampling_settings(FineSampling, self.loaded.card, sampling or {})
        self.model: FineTransformer = self.loaded.module  # type: ignore[assignment]

    def info(self) -> contract_pb2.ModelInfo:
        both = replace(
            self.loaded,
            version=f"{self.loaded.version}+{self.codec.version}",
            trained=self.loaded.trained and self.codec.trained,
        )
        return model_info(
            self.level,
            self.name,
            both,
            self.token_space,
            self.device,
            codec_plugin=self.codec_plugin,
            max_chunk_frames=self.max_frames,
        )

    def render(
        self,
        ctx: ChunkInputs,
        coarse: np.ndarray,
        summary: np.ndarray | None,
        prefix: np.ndarray | None,
        seed: int,
        temperature: float,
        top_k: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """coarse int64 [coarse, T], summary float32 [n, summary_dim] (None on
        chunk 0), prefix int64 [fine, P] (the previous chunk's overlap) ->
        fine tokens int64 [fine, T], audio float32 [T * hop] (`_decode`),
        summary float32 [n, summary_dim]. The same inputs and seed give the
        same outputs."""
        ts = self.token_space
        fine = ts.codebooks - ts.coarse_codebooks
        frames = ctx.num_frames
        if not 0 < frames <= self.max_frames:
            raise ValueError(f"chunk of {frames} frames; this model takes 1..{self.max_frames}")
        self._check_codes("coarse", coarse, ts.coarse_codebooks)
        if coarse.shape[1] != frames:
            raise ValueError(f"coarse has {coarse.shape[1]} frames but the chunk has {frames}")
        if prefix is not None:
            self._check_codes("prefix", prefix, fine)
            if prefix.shape[1] >= frames:
                raise ValueError(f"prefix of {prefix.shape[1]} frames must be shorter than the chunk ({frames})")
        if summary is not None and summary.shape != (ts.summary_tokens, ts.summary_dim):
            raise ValueError(f"summary must be [{ts.summary_tokens}, {ts.summary_dim}], got {list(summary.shape)}")
        generator = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            plan = PlanContext.from_chunks([ctx], frames, ts.frames_per_semantic, self.device)
            coarse_t = torch.tensor(coarse, device=self.device)[None]  # [1, coarse, T]
            fine_t, summary_out, probs = self.model.generate(
                coarse_t,
                plan,
                None if summary is None else torch.tensor(summary, dtype=torch.float32, device=self.device)[None],
                None if prefix is None else torch.tensor(prefix, device=self.device)[None],
                temperature or self.sampling.temperature,
                top_k or self.sampling.top_k,
                generator,
            )
            audio = self._decode(coarse_t, fine_t, probs)[0, 0].float().cpu().numpy()  # [T * hop]
        if self.sampling.energy_gain_db > 0:
            audio = audio * energy_gain(ctx.section_energy, plan.frame_section[0].cpu().numpy(),
                                        len(audio) // frames, self.sampling.energy_gain_db)
        return (
            fine_t[0].cpu().numpy(),
            audio,
            summary_out[0].float().cpu().numpy(),
        )

    def _decode(self, coarse: torch.Tensor, fine: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Audio from the coarse codes and, with `sampling.render_expected`,
        the expected codebook vectors of the fine distributions rather than
        the fine codes drawn (which still go out as the fine tokens and the
        next chunk's prefix). A codec that cannot decode vectors gets the codes."""
        if self.sampling.render_expected:
            try:
                return self.codec.decode_expected(coarse, probs)
            except NotImplementedError:
                pass
        return self.codec.decode(torch.cat([coarse, fine], dim=1))

    def _check_codes(self, field: str, codes: np.ndarray, rows: int) -> None:
        """dtype, shape and range, so a bad request fails here, not inside an embedding."""
        size = self.token_space.codebook_size
        if codes.dtype != np.int64 or codes.ndim != 2 or codes.shape[0] != rows:
            raise ValueError(f"{field} must be int64 [{rows}, frames], got {codes.dtype} {list(codes.shape)}")
        if codes.size and (codes.min() < 0 or codes.max() >= size):
            raise ValueError(f"{field} tokens must lie in [0, {size})")
