"""The coarse transformer: writes RVQ levels 1-2 of one chunk, frame by frame,
cross-attending to the plan (services/common/plan_encoder.py) and carrying
summary tokens between chunks. Each frame also gets its own slice of the plan:
the semantic token and the section, with its energy, that cover it, so
section boundaries inside a chunk are seen where they fall; where it lies in
the beat and the bar of the plan's beat grid, so the tempo asked for reaches
the frames exactly, which semantic tokens at 12.5/s cannot carry to within a
few percent; whether the prompt asked for drums, asked for none, or did
not say, since a caption embedding hears "no drums" much as "drums"; and, in
a section that returns, the first occurrence's codes at the same place in
the bar (thematic_attention.py)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from hiermusic.v1 import levels_pb2
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.nn import KVCache, SummaryPooler, Transformer, TransformerConfig, floored, keep_top_k, sample
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.common.plan_encoder import PlanEncoder
from hiermusic.services.acoustic.thematic_attention import MemoryBatch, ThematicAttention

BEAT_FEATURES = 7  # sin/cos of the beat, half-beat and bar phases, and whether a grid is known


def beat_features(frame_beats: torch.Tensor) -> torch.Tensor:
    """frame_beats [B, T, 2] (positions in beats and bars; NaN: no grid) ->
    [B, T, BEAT_FEATURES], all zero where no grid is known."""
    known = ~frame_beats.isnan().any(dim=-1, keepdim=True)  # [B, T, 1]
    beats, bars = frame_beats.nan_to_num(0.0).unbind(-1)
    angles = torch.stack([2 * torch.pi * beats, 4 * torch.pi * beats, 2 * torch.pi * bars], dim=-1)  # [B, T, 3]
    phases = torch.cat([angles.sin(), angles.cos()], dim=-1) * known
    return torch.cat([phases, known.float()], dim=-1)


@dataclass
class CoarseConfig:
    token_space: TokenSpaceConfig = field(default_factory=TokenSpaceConfig)
    transformer: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(dim=192, layers=4, heads=4, max_len=512)
    )
    # Plan positions (PlanEncoder): offsets -margin .. positions-margin-1 from the chunk's first semantic token.
    semantic_positions: int = 256
    semantic_margin: int = 64
    # Longest thematic memory a request may carry (ModelInfo.max_memory_frames,
    # never past the longest chunk): a memory frame is aligned with a chunk
    # frame, so the longest chunk of the default transformer (512 - 8 summary).
    max_memory_frames: int = 504


class CoarseTransformer(nn.Module):
    # Parameters a checkpoint may lack (services/common/level.py load_or_init):
    # at their initial values the model computes what it did without them,
    # the thematic memory's gate being zero, so weights trained before it
    # existed (the bundled ones) serve unchanged.
    neutral_at_init: ClassVar[tuple[str, ...]] = ("theme.",)

    def __init__(self, config: CoarseConfig) -> None:
        super().__init__()
        self.config = config
        space, d = config.token_space, config.transformer.dim
        self.codebooks = space.coarse_codebooks
        self.bos = nn.Parameter(torch.randn(d) * 0.02)
        self.code_emb = nn.ModuleList(nn.Embedding(space.codebook_size, d) for _ in range(self.codebooks))
        self.frame_sem = nn.Embedding(space.semantic_vocab_size, d)
        self.frame_section = nn.Linear(space.embedding_dim + 1, d)
        self.summary_in = nn.Linear(space.summary_dim, d)
        self.no_summary = nn.Parameter(torch.randn(space.summary_tokens, d) * 0.02)
        self.plan_encoder = PlanEncoder(space, d, config.semantic_positions, config.semantic_margin)
        self.transformer = Transformer(config.transformer)
        self.heads = nn.ModuleList(nn.Linear(d, space.codebook_size) for _ in range(self.codebooks))
        # Level k > 0 also sees the ids just chosen for levels < k of the same frame.
        self.depth_emb = nn.ModuleList(nn.Embedding(space.codebook_size, d) for _ in range(self.codebooks - 1))
        self.pooler = SummaryPooler(space.summary_tokens, d, space.summary_dim, config.transformer.heads)
        # Zero at first: a fresh model hears the beat grid and the drums asked only as it learns them.
        self.beat_proj = nn.Linear(BEAT_FEATURES, d)
        nn.init.zeros_(self.beat_proj.weight)
        nn.init.zeros_(self.beat_proj.bias)
        self.drums_emb = nn.Embedding(3, d)  # unsaid, wanted, unwanted
        nn.init.zeros_(self.drums_emb.weight)
        # Each coarse code's drums evidence in the training corpus
        # (services.common.training.drums_evidence): log p(drums | code) and
        # log p(no drums | code), per codebook, for `generate`'s drums floor.
        # The learnt drums input alone still let a "no drums" piece draw now
        # and then a burst of cymbal-like noise. Filled by the trainer.
        self.register_buffer("drums_evidence", torch.zeros(self.codebooks, 3, space.codebook_size))
        # Built last, so the layers above draw the same random weights as before it existed.
        self.theme = ThematicAttention(space, d, config.transformer.heads, config.transformer.max_len)

    def frame_plan(self, plan: PlanContext, theme: MemoryBatch | None = None) -> torch.Tensor:
        """Each frame's own plan: its semantic token plus its section and that
        section's energy, its place in the beat grid, the drums asked and what
        it hears of its thematic memory. [B, T, D]"""
        sections = self.frame_section(torch.cat([plan.sections, plan.section_energy[..., None]], dim=-1))  # [B, k, D]
        index = plan.frame_section[..., None].expand(-1, -1, sections.shape[-1])  # [B, T, D]
        out = self.frame_sem(plan.semantic.gather(1, plan.frame_semantic)) + torch.gather(sections, 1, index)
        out = out + self.beat_proj(beat_features(plan.frame_beats).to(out))
        out = out + self.drums_emb(plan.frame_drums)
        return out if theme is None else self.theme(out, theme, self.code_emb)

    def summary_prefix(
        self, summary: torch.Tensor | None, batch: int, opens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[B, n, D]. `opens` (bool [B]) marks chunks of a batch that open their
        song and so get the no-summary tokens although others carry one."""
        none = self.no_summary[None].expand(batch, -1, -1)
        if summary is None:
            return none
        given = self.summary_in(summary)  # [B, n, D]
        return given if opens is None else torch.where(opens[:, None, None], none, given)

    def frame_inputs(self, codes: torch.Tensor, frame_plan: torch.Tensor) -> torch.Tensor:
        """Input at frame t: the codes of frame t-1 (BOS at t=0) plus the plan
        of frame t. codes: [B, K, T], frame_plan: [B, >=T, D] -> [B, T, D]."""
        b, _, t = codes.shape
        prev = sum(emb(codes[:, k]) for k, emb in enumerate(self.code_emb))  # [B, T, D]
        shifted = torch.cat([self.bos.expand(b, 1, -1), prev[:, :-1]], dim=1)
        return shifted + frame_plan[:, :t]

    def logits(self, hidden: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, K, T, V] from hidden [B, T, D] and codes [B, K, T]."""
        out = [self.heads[0](hidden)]
        depth = torch.zeros_like(hidden)
        for k in range(1, self.codebooks):
            depth = depth + self.depth_emb[k - 1](codes[:, k - 1])
            out.append(self.heads[k](hidden + depth))
        return torch.stack(out, dim=1)

    def forward(
        self, codes: torch.Tensor, plan: PlanContext, summary: torch.Tensor | None, opens: torch.Tensor | None = None,
        theme: MemoryBatch | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: logits [B, K, T, V] and the summary out [B, n, S]."""
        prefix = self.summary_prefix(summary, codes.shape[0], opens)
        x = torch.cat([prefix, self.frame_inputs(codes, self.frame_plan(plan, theme))], dim=1)
        memory, mask = self.plan_encoder(plan)
        hidden = self.transformer(x, memory, mask)[:, prefix.shape[1] :]
        return self.logits(hidden, codes), self.pooler(hidden)

    @torch.inference_mode()
    def generate(
        self,
        plan: PlanContext,
        summary: torch.Tensor | None,
        prefix_codes: torch.Tensor | None,
        num_frames: int,
        temperature: float,
        top_k: int,
        generator: torch.Generator,
        drums_floor: Sequence[float] = (),
        theme: MemoryBatch | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes [1, K, num_frames] (starting with the given prefix) and summary
        [1, n, S]. `drums_floor[k]` > 0 keeps, at the frames whose section
        asks for no drums, among codebook k's top_k only the codes whose
        evidence for no drums is at least that probability (all of them where
        none is); codebooks past its end have none. `theme`: the chunk's
        thematic memory, if it has one."""
        memory, mask = self.plan_encoder(plan)
        frame_plan = self.frame_plan(plan, theme)  # [1, num_frames, D]
        cache = KVCache(capacity=self.no_summary.shape[0] + num_frames)  # summary + frames
        device = memory.device
        given = prefix_codes.shape[-1] if prefix_codes is not None else 0
        codes = torch.zeros(1, self.codebooks, num_frames, dtype=torch.long, device=device)
        if prefix_codes is not None:
            codes[:, :, :given] = prefix_codes
        # Prefill: summary, then the inputs of frames 0..given (frame `given` is the first to sample).
        first = self.frame_inputs(codes[:, :, : given + 1], frame_plan)
        x = torch.cat([self.summary_prefix(summary, 1), first], dim=1)
        hidden_all = [self.transformer(x, memory, mask, cache=cache)[:, -(given + 1) :]]
        h = hidden_all[0][:, -1]  # [1, D]
        evidence = self.drums_evidence[:, levels_pb2.DRUMS_UNWANTED]  # [K, V]
        drumless = (plan.frame_drums[0] == levels_pb2.DRUMS_UNWANTED).tolist()  # per frame
        floors = [math.log(f) if f > 0 else None for f in drums_floor][: self.codebooks]
        floors += [None] * (self.codebooks - len(floors))
        for t in range(given, num_frames):
            depth = torch.zeros_like(h)
            for k in range(self.codebooks):
                logits = self.heads[k](h + depth)
                if drumless[t] and floors[k] is not None:
                    logits = floored(keep_top_k(logits, top_k), evidence[k], floors[k])
                codes[:, k, t] = sample(logits, temperature, top_k, generator)
                if k < self.codebooks - 1:
                    depth = depth + self.depth_emb[k](codes[:, k, t])
            if t + 1 < num_frames:
                step = sum(emb(codes[:, k, t]) for k, emb in enumerate(self.code_emb))
                step = (step + frame_plan[:, t + 1])[:, None]
                out = self.transformer(step, memory, mask, cache=cache)
                hidden_all.append(out)
                h = out[:, -1]
        hidden = torch.cat(hidden_all, dim=1)  # [1, num_frames, D]
        return codes, self.pooler(hidden)
