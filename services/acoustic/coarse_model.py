"""The coarse transformer: writes RVQ levels 1-2 of one chunk, frame by frame,
cross-attending to the plan and carrying summary tokens between chunks."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from services.common.contract import TokenSpaceConfig
from services.common.nn import KVCache, SummaryPooler, Transformer, TransformerConfig, sample

SEMANTIC_POSITIONS = 256  # relative positions of plan tokens around the chunk


@dataclass
class CoarseConfig:
    token_space: TokenSpaceConfig = field(default_factory=TokenSpaceConfig)
    transformer: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(dim=256, layers=4, heads=4, max_len=512)
    )


@dataclass
class PlanMemory:
    """A chunk's plan context as tensors with a batch axis."""

    text: torch.Tensor  # [B, E]
    sections: torch.Tensor  # [B, k, E]
    energy: torch.Tensor  # [B, k]
    semantic: torch.Tensor  # [B, s] token ids
    semantic_pos: torch.Tensor  # [B, s] positions relative to the chunk start
    frame_semantic: torch.Tensor  # [B, T] semantic token aligned with each frame


class CoarseTransformer(nn.Module):
    def __init__(self, config: CoarseConfig) -> None:
        super().__init__()
        self.config = config
        space, d = config.token_space, config.transformer.dim
        self.codebooks = space.coarse_codebooks
        self.bos = nn.Parameter(torch.randn(d) * 0.02)
        self.code_emb = nn.ModuleList(nn.Embedding(space.codebook_size, d) for _ in range(self.codebooks))
        self.frame_sem = nn.Embedding(space.semantic_vocab_size, d)
        self.summary_in = nn.Linear(space.summary_dim, d)
        self.no_summary = nn.Parameter(torch.randn(space.summary_tokens, d) * 0.02)
        self.mem_text = nn.Linear(space.embedding_dim, d)
        self.mem_section = nn.Linear(space.embedding_dim + 1, d)
        self.mem_sem = nn.Embedding(space.semantic_vocab_size, d)
        self.mem_sem_pos = nn.Embedding(SEMANTIC_POSITIONS, d)
        self.transformer = Transformer(config.transformer)
        self.heads = nn.ModuleList(nn.Linear(d, space.codebook_size) for _ in range(self.codebooks))
        # Level k > 0 also sees the ids just chosen for levels < k of the same frame.
        self.depth_emb = nn.ModuleList(nn.Embedding(space.codebook_size, d) for _ in range(self.codebooks - 1))
        self.pooler = SummaryPooler(space.summary_tokens, d, space.summary_dim, config.transformer.heads)

    def memory(self, plan: PlanMemory) -> torch.Tensor:
        text = self.mem_text(plan.text)[:, None]  # [B, 1, D]
        sections = self.mem_section(torch.cat([plan.sections, plan.energy[..., None]], dim=-1))  # [B, k, D]
        semantic = self.mem_sem(plan.semantic) + self.mem_sem_pos(plan.semantic_pos)  # [B, s, D]
        return torch.cat([text, sections, semantic], dim=1)

    def summary_prefix(self, summary: torch.Tensor | None, batch: int) -> torch.Tensor:
        if summary is None:
            return self.no_summary[None].expand(batch, -1, -1)
        return self.summary_in(summary)  # [B, n, D]

    def frame_inputs(self, codes: torch.Tensor, frame_semantic: torch.Tensor) -> torch.Tensor:
        """Input at frame t: the codes of frame t-1 (BOS at t=0) plus the plan's
        semantic token for frame t. codes: [B, K, T] -> [B, T, D]."""
        b, _, t = codes.shape
        prev = sum(emb(codes[:, k]) for k, emb in enumerate(self.code_emb))  # [B, T, D]
        shifted = torch.cat([self.bos.expand(b, 1, -1), prev[:, :-1]], dim=1)
        return shifted + self.frame_sem(frame_semantic[:, :t])

    def logits(self, hidden: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, K, T, V] from hidden [B, T, D] and codes [B, K, T]."""
        out = [self.heads[0](hidden)]
        depth = torch.zeros_like(hidden)
        for k in range(1, self.codebooks):
            depth = depth + self.depth_emb[k - 1](codes[:, k - 1])
            out.append(self.heads[k](hidden + depth))
        return torch.stack(out, dim=1)

    def forward(
        self, codes: torch.Tensor, plan: PlanMemory, summary: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: logits [B, K, T, V] and the summary out [B, n, S]."""
        prefix = self.summary_prefix(summary, codes.shape[0])
        x = torch.cat([prefix, self.frame_inputs(codes, plan.frame_semantic)], dim=1)
        hidden = self.transformer(x, self.memory(plan))[:, prefix.shape[1] :]
        return self.logits(hidden, codes), self.pooler(hidden)

    @torch.inference_mode()
    def generate(
        self,
        plan: PlanMemory,
        summary: torch.Tensor | None,
        prefix_codes: torch.Tensor | None,
        num_frames: int,
        temperature: float,
        top_k: int,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes [1, K, num_frames] (starting with the given prefix) and summary [1, n, S]."""
        memory = self.memory(plan)
        cache = KVCache(capacity=self.no_summary.shape[0] + num_frames)  # summary + frames
        device = memory.device
        given = prefix_codes.shape[-1] if prefix_codes is not None else 0
        codes = torch.zeros(1, self.codebooks, num_frames, dtype=torch.long, device=device)
        if prefix_codes is not None:
            codes[:, :, :given] = prefix_codes
        # Prefill: summary, then the inputs of frames 0..given (frame `given` is the first to sample).
        first = self.frame_inputs(codes[:, :, : given + 1], plan.frame_semantic)
        x = torch.cat([self.summary_prefix(summary, 1), first], dim=1)
        hidden_all = [self.transformer(x, memory, cache=cache)[:, -(given + 1) :]]
        h = hidden_all[0][:, -1]  # [1, D]
        for t in range(given, num_frames):
            depth = torch.zeros_like(h)
            for k in range(self.codebooks):
                logits = self.heads[k](h + depth)
                codes[:, k, t] = sample(logits, temperature, top_k, generator)
                if k < self.codebooks - 1:
                    depth = depth + self.depth_emb[k](codes[:, k, t])
            if t + 1 < num_frames:
                step = sum(emb(codes[:, k, t]) for k, emb in enumerate(self.code_emb))
                step = (step + self.frame_sem(plan.frame_semantic[:, t + 1]))[:, None]
                out = self.transformer(step, memory, cache=cache)
                hidden_all.append(out)
                h = out[:, -1]
        hidden = torch.cat(hidden_all, dim=1)  # [1, num_frames, D]
        return codes, self.pooler(hidden)
