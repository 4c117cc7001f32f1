"""The fine transformer: fills in RVQ levels coarse_codebooks..codebooks-1 of
a chunk given its coarse levels and the plan.

Autoregressive over RVQ level (VALL-E's NAR stage): level k is sampled by
bidirectional passes over the chunk whose frame inputs carry the sum of levels
0..k-1. Within a level, `reveal_steps` passes sample the frames in a fixed
interleaved order (SoundStorm's iterative decoding with a fixed schedule):
step 0 samples every reveal_steps-th frame from the levels below alone, later
steps the frames between them, seeing the level's tokens already sampled.
Why: a fine code repeats its neighbour's far more often than chance (on the
bundled codec's corpus 20% of RVQ level 3 codes equal the previous frame's),
which one pass per level cannot use, since no frame sees its neighbours'
codes at its own level. The fixed order makes the passes a chain-rule
factorization, so validation cross-entropy stays an exact likelihood. A 5 s
chunk costs reveal_steps passes per fine level instead of one step per frame.

A level's logits come from three terms: its output layer, which is its input
embedding table (tied, as in language models, so copying a neighbour's code
needs no separate output row per code to be learnt); a copy of the known
neighbours' codes within `copy_window` frames; and a Gaussian over the
codec's codebook vectors around where those neighbours point.

Sequence: [summary vectors from the previous chunk (or learned "no summary"
vectors on chunk 0)] + [frames]. Cross-attention memory: the plan
(services/common/plan_encoder.py). The previous chunk's overlap is a prefix:
its fine tokens are given to the model as input and copied to the output,
never resampled."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.nn import SummaryPooler, Transformer, TransformerConfig, draw, sampling_probs
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.common.plan_encoder import PlanEncoder


@dataclass
class FineConfig:
    token_space: TokenSpaceConfig = field(default_factory=TokenSpaceConfig)
    transformer: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(dim=160, layers=4, heads=4, max_len=512)
    )
    # Plan positions (PlanEncoder): offsets -margin .. positions-margin-1 from the chunk's first semantic token.
    semantic_positions: int = 256
    semantic_margin: int = 64
    # Passes per fine level, a power of two > 1 (a single pass knows no code of its own level).
    reveal_steps: int = 4
    # Frames either side whose known codes at the level being sampled may be
    # copied: each adds a weight, set per frame from its hidden state, to the
    # logit of that neighbour's code (a pointer, as in pointer-generator
    # networks). Why: a fine code often repeats a neighbour's, a copy the
    # heads alone learn slowly (docs/experiments/fine-levels.md).
    copy_window: int = 4
    # Width of the codec's codebook vectors, held in the model: each code's
    # input adds a learned projection of its vector, and each level's logits
    # add m . e_c - q |e_c|^2 / 2 for a point m and a precision q read from the
    # frame's state (a Gaussian over the codebook vectors e_c). Why: with a
    # codec whose fine residual is smoothed (its fine_smoothing) a fine
    # level's vector is told by its neighbours' sums over the levels, a
    # distance in the latent that the code ids alone hide
    # (bench/fine_predictability.py).
    latent_dim: int = 128

    def __post_init__(self) -> None:
        if self.reveal_steps < 2 or self.reveal_steps & (self.reveal_steps - 1):
            raise ValueError(f"reveal_steps must be a power of two > 1, got {self.reveal_steps}")
        if self.copy_window < 1:
            raise ValueError(f"copy_window must be >= 1, got {self.copy_window}")


class FineTransformer(nn.Module):
    def __init__(self, config: FineConfig) -> None:
        super().__init__()
        self.config = config
        ts, d = config.token_space, config.transformer.dim
        self.coarse = ts.coarse_codebooks
        self.codebooks = ts.codebooks
        fine = ts.codebooks - ts.coarse_codebooks
        # One table for all levels: level j's token t is row j * codebook_size + t.
        self.code_emb = nn.Embedding(ts.codebooks * ts.codebook_size, d)
        self.level_emb = nn.Embedding(fine, d)
        self.plan_encoder = PlanEncoder(ts, d, config.semantic_positions, config.semantic_margin)
        self.summary_in = nn.Linear(ts.summary_dim, d)
        self.no_summary = nn.Parameter(torch.randn(ts.summary_tokens, d) * 0.02)
        self.transformer = Transformer(config.transformer)
        # The output layer is the level's rows of code_emb (tied), plus a bias per code.
        self.head_bias = nn.Parameter(torch.zeros(fine, ts.codebook_size))
        self.pooler = SummaryPooler(ts.summary_tokens, d, ts.summary_dim, config.transformer.heads)
        # Marks a frame whose code at the level being sampled is not known yet.
        self.unknown = nn.Parameter(torch.randn(d) * 0.02)
        # Hands each frame the codes already known around it (two frames
        # either side): the copy of a neighbour's code is then one direct
        # path to the tied output, not a relative position for attention
        # to discover from learned absolute ones.
        self.neighbours = nn.Conv1d(d, d, kernel_size=5, padding=2)
        # Zero-initialised, so a fresh model scores by its tied output alone and learns to copy.
        self.copy = nn.Linear(d, 2 * config.copy_window)
        nn.init.zeros_(self.copy.weight)
        nn.init.zeros_(self.copy.bias)
        # Filled from the codec by the trainer (set_codebooks), saved with the weights.
        self.register_buffer("codebook_vectors", torch.zeros(ts.codebooks * ts.codebook_size, config.latent_dim))
        # Small but not zero: with both ends at zero neither would get a gradient.
        self.latent_in = nn.Linear(config.latent_dim, d, bias=False)
        nn.init.normal_(self.latent_in.weight, std=config.latent_dim**-0.5)
        # Zero: the Gaussian term starts at nothing, and every known neighbour weighs alike.
        self.latent_out = nn.Linear(d, config.latent_dim + 1)
        nn.init.zeros_(self.latent_out.weight)
        nn.init.zeros_(self.latent_out.bias)
        self.neighbour_weights = nn.Linear(d, 2 * config.copy_window)
        nn.init.zeros_(self.neighbour_weights.weight)
        nn.init.zeros_(self.neighbour_weights.bias)
        self.register_buffer("offsets", torch.arange(ts.codebooks) * ts.codebook_size, persistent=False)

    def forward(
        self,
        codes: torch.Tensor,
        level: int,
        plan: PlanContext,
        summary: torch.Tensor | None = None,
        prefix_len: int = 0,
        step: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass for one fine level at one reveal step. codes
        [B, >level, T] holds the true levels 0..level (level's own tokens are
        read only where visible: the prefix and the frames of earlier steps).
        Returns logits [B, T, vocab] for `level` (its frames of reveal step
        `step` are the ones this pass samples) and hidden [B, summary_tokens
        + T, D]; `summarize` the last pass's, as `generate` does. Training
        takes all levels at once: `teacher_forced`."""
        if not self.coarse <= level < self.codebooks:
            raise ValueError(f"level must be in [{self.coarse}, {self.codebooks}), got {level}")
        frames = self._embed_codes(codes[:, :level], 0) + self._frame_context(plan)  # [B, T, D]
        visible = self.frame_steps(codes.shape[-1], prefix_len, codes.device) < step  # [T]
        hidden = self._pass(frames, codes[:, level], visible, level, self.plan_encoder(plan), summary)
        n = self.config.token_space.summary_tokens
        below = self.fine_latent(codes[:, self.coarse : level], self.coarse)
        return self.logits(hidden[:, n:], level, codes[:, level], visible.expand(codes.shape[0], -1), below), hidden

    def teacher_forced(
        self,
        codes: torch.Tensor,
        plan: PlanContext,
        summary: torch.Tensor | None = None,
        prefix_len: int = 0,
        step: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every fine level's teacher-forced pass in one transformer call, the
        levels stacked into the batch: what `forward` gives level by level.
        codes [B, codebooks, T] (true tokens; a fine level's own are read only
        where visible), step long [B, fine] the reveal step of each level's
        pass (None: step 0, only the prefix visible) -> logits [B, fine, T,
        vocab] and the next chunk's summary [B, n, summary_dim], pooled from
        the last level's pass as `generate` pools it from its last pass."""
        b, _, t = codes.shape
        fine = self.codebooks - self.coarse
        n = self.config.token_space.summary_tokens
        emb = self._embed(codes + self.offsets[:, None])  # [B, codebooks, T, D]
        below = emb.cumsum(dim=1)[:, self.coarse - 1 : -1]  # [B, fine, T, D]: the levels under each fine level
        frame_steps = self.frame_steps(t, prefix_len, codes.device)  # [T]
        step = codes.new_zeros(b, fine) if step is None else step
        visible = frame_steps[None, None] < step[..., None]  # [B, fine, T]
        given = self._given(emb[:, self.coarse :], visible)  # [B, fine, T, D]
        x = below + given + self._frame_context(plan)[:, None] + self.level_emb.weight[None, :, None]
        # [B * fine, M, D] and its mask [B * fine, M]
        memory = tuple(m.repeat_interleave(fine, dim=0) for m in self.plan_encoder(plan))
        heads = None if summary is None else summary.repeat_interleave(fine, dim=0)
        hidden = self._run(x.flatten(0, 1), memory, heads).unflatten(0, (b, fine))  # [B, fine, n + T, D]
        # Each level's frames: the sum of the codebook vectors of the fine levels under it.
        vectors = self.codebook_vectors[codes[:, self.coarse :] + self.offsets[self.coarse :, None]]  # [B, fine, T, L]
        below_each = vectors.cumsum(dim=1) - vectors
        logits = self.logits(hidden[:, :, n:], self.coarse, codes[:, self.coarse :], visible, below_each)
        return logits, self.summarize(hidden[:, -1])

    def summarize(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [B, n + T, D] -> the next chunk's summary [B, n, summary_dim]."""
        return self.pooler(hidden)

    def logits(
        self, hidden: torch.Tensor, level: int, tokens: torch.Tensor, visible: torch.Tensor, below: torch.Tensor
    ) -> torch.Tensor:
        """hidden [B, T, D] -> logits [B, T, codebook_size] of `level`'s codes:
        the tied output layer; the Gaussian placed where the known neighbours
        point, from `below` [B, T, latent] (fine_latent of the fine levels
        under `level`); and the copy of the neighbours' codes `tokens` [B, T]
        (the level's codes, read only where `visible` [B, T]). Levels
        level..level+K-1 stacked (hidden [B, K, T, D], the others [B, K, T,
        ...]) give [B, K, T, codebook_size]: teacher_forced's one call for
        every fine level (a call per level took about a fifth more CPU per
        training pass of the tests' tiny model)."""
        table = self._level_rows(self.code_emb.weight, level, hidden)  # [(K,) V, D], entries ~N(0, 1)
        bias = self._level_rows(self.head_bias, level - self.coarse, hidden, 1)  # [(K,) 1, V]
        # Scaled so that logits start near zero (hidden is layer-normed, ~unit per entry).
        out = self._by_level(hidden, table) * hidden.shape[-1] ** -0.5 + bias
        out = out + self._geometry_logits(hidden, level, tokens, visible, below)
        return out + self._copy_logits(hidden, tokens, visible, out.shape[-1])

    def _level_rows(self, table: torch.Tensor, level: int, hidden: torch.Tensor, size: int = 0) -> torch.Tensor:
        """`level`'s rows [size, X] of a table holding `size` (default:
        codebook_size) rows per level; for stacked levels (hidden [B, K, T,
        D]) levels level..level+K-1's, [K, size, X]."""
        size = size or self.config.token_space.codebook_size
        if hidden.dim() < 4:
            return table[level * size : (level + 1) * size]
        count = hidden.shape[1]
        return table[level * size : (level + count) * size].unflatten(0, (count, size))

    def _geometry_logits(
        self,
        hidden: torch.Tensor,
        level: int,
        tokens: torch.Tensor,
        visible: torch.Tensor,
        below: torch.Tensor,
    ) -> torch.Tensor:
        """[B, T, V] ([B, K, T, V] for stacked levels, as `logits`): m . e_c
        - q |e_c|^2 / 2, a Gaussian over the level's
        codebook vectors e_c around m / q (up to a constant per frame), the
        vectors scaled to unit mean square so every level reads at one scale.
        The precision q is read from each frame's state, and the point m is
        q times where the known neighbours within the copy window point (each
        neighbour: its fine levels' sum up to this level less this frame's
        sum below it; weighed by a softmax read from the state, uniform at
        first), plus a correction read from the state. q and the correction
        start at zero, and with them this term."""
        vectors = self._level_rows(self.codebook_vectors, level, hidden)  # [(K,) V, L]
        scale = vectors.square().mean(dim=(-2, -1), keepdim=True).clamp_min(1e-12).sqrt()  # per level
        read = self.latent_out(hidden)  # [..., T, L + 1]
        point, precision = read[..., :-1], read[..., -1:]
        point = point + precision * self._neighbour_centre(hidden, vectors, tokens, visible, below) / scale
        vectors = vectors / scale
        return self._by_level(point, vectors) - 0.5 * precision * vectors.square().sum(-1).unsqueeze(-2)

    @staticmethod
    def _by_level(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """x [B, T, X] times a level's table [V, X] -> [B, T, V]; stacked
        levels' x [B, K, T, X] times each one's table [K, V, X] -> [B, K, T,
        V], as one product batched over K (a broadcast matmul would copy the
        table for every batch entry)."""
        return x @ table.T if table.dim() == 2 else torch.einsum("bktx,kvx->bktv", x, table)

    def _neighbour_centre(
        self, hidden: torch.Tensor, vectors: torch.Tensor, tokens: torch.Tensor, visible: torch.Tensor,
        below: torch.Tensor
    ) -> torch.Tensor:
        """[B, T, L]: the weighted mean over the known neighbours within the
        copy window of (their fine sum below the level + their code's vector
        at it) - this frame's fine sum below it; zero where none is known.
        vectors [V, L] are the level's codebook vectors; stacked levels' [K,
        V, L] go with tokens, visible [B, K, T] and below [B, K, T, L]."""
        src, known = self._neighbours(visible)  # [T, 2w], [..., T, 2w]
        if vectors.dim() == 3:  # each level's codes index its own vectors
            tokens = tokens + torch.arange(vectors.shape[0], device=tokens.device)[:, None] * vectors.shape[1]
        code_vectors = vectors.flatten(0, -2)[tokens[..., src]]  # [..., T, 2w, L]
        centres = below[..., src, :] + code_vectors - below[..., None, :]  # [..., T, 2w, L]
        weights = self.neighbour_weights(hidden)  # [..., T, 2w]
        share = torch.softmax(weights.masked_fill(~known, float("-inf")), dim=-1).nan_to_num(0.0)
        return (centres * share[..., None]).sum(dim=-2)

    def _copy_logits(
        self, hidden: torch.Tensor, tokens: torch.Tensor, visible: torch.Tensor, vocab: int
    ) -> torch.Tensor:
        """[B, T, vocab] (or [B, K, T, vocab]): at each frame, the weight of
        every known neighbour within the window on that neighbour's code
        (weights of neighbours sharing a code add up)."""
        src, known = self._neighbours(visible)
        weights = self.copy(hidden) * known  # [..., T, 2w]
        return hidden.new_zeros(*tokens.shape, vocab).scatter_add_(-1, tokens[..., src], weights)

    def _neighbours(self, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The frames within the copy window of each frame, offsets -w..-1,
        1..w: their indices [T, 2w] (clamped to the chunk) and whether each
        is known [..., T, 2w] (visible [..., T], and inside the chunk)."""
        w, t = self.config.copy_window, visible.shape[-1]
        offsets = torch.tensor([*range(-w, 0), *range(1, w + 1)], device=visible.device)
        src = torch.arange(t, device=visible.device)[:, None] + offsets  # [T, 2w]
        inside = (src >= 0) & (src < t)
        src = src.clamp(0, t - 1)
        return src, visible[..., src] & inside

    def frame_steps(self, frames: int, prefix_len: int, device: torch.device) -> torch.Tensor:
        """long [frames]: the reveal step at which each frame's fine codes are
        sampled, -1 for the prefix (given). Frame prefix_len + i goes at the
        bit-reversed i mod reveal_steps, so step 1's frames sit halfway
        between step 0's, step 2's and 3's between those, and so on."""
        steps = self.config.reveal_steps
        bits = steps.bit_length() - 1
        order = torch.tensor([int(f"{r:0{bits}b}"[::-1], 2) if bits else 0 for r in range(steps)], device=device)
        i = torch.arange(frames, device=device) - prefix_len
        return torch.where(i < 0, -1, order[i.remainder(steps)])

    def _given(self, emb: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """What each frame carries of its own level's code: emb [..., T, D]
        where visible [..., T], else the learned "unknown" vector; plus what
        its neighbours carry (self.neighbours)."""
        given = emb * visible[..., None] + self.unknown * (~visible)[..., None]
        flat = given.flatten(0, -3).transpose(1, 2)  # [N, D, T]
        return given + self.neighbours(flat).transpose(1, 2).reshape(given.shape)

    def generate(
        self,
        coarse: torch.Tensor,
        plan: PlanContext,
        summary: torch.Tensor | None,
        prefix: torch.Tensor | None,
        temperature: float,
        top_k: int,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """coarse [B, coarse, T], prefix [B, fine, P] with P < T -> fine
        tokens [B, fine, T] (prefix copied), summary [B, n, summary_dim] and
        the distributions each token was drawn from, float [B, fine, T, V]
        (one-hot for the prefix, and everywhere at temperature <= 0), which
        the plugin renders from (plugin.py says why)."""
        # The plan is the same for every level: encode it once.
        memory, context = self.plan_encoder(plan), self._frame_context(plan)
        known = self._embed_codes(coarse, 0)  # [B, T, D]
        p = prefix.shape[-1] if prefix is not None else 0
        n = self.config.token_space.summary_tokens
        size = self.config.token_space.codebook_size
        b, t = coarse.shape[0], coarse.shape[-1]
        frame_steps = self.frame_steps(t, p, coarse.device)  # [T]
        levels, level_probs = [], []
        for level in range(self.coarse, self.codebooks):
            j = level - self.coarse
            tokens = coarse.new_zeros(b, t)
            probs = torch.zeros(b, t, size, device=coarse.device)
            if prefix is not None:
                tokens[:, :p] = prefix[:, j]
                probs[:, :p] = nn.functional.one_hot(prefix[:, j], size).float()
            # The sum of the codebook vectors of the fine levels sampled so far.
            below = self.fine_latent(torch.stack(levels, dim=1) if levels else coarse.new_zeros(b, 0, t), self.coarse)
            for step in range(self.config.reveal_steps):
                hidden = self._pass(known + context, tokens, frame_steps < step, level, memory, summary)
                now = frame_steps == step
                visible = (frame_steps < step).expand(b, -1)
                logits = self.logits(hidden[:, n:], level, tokens, visible, below)[:, now]  # [B, frames of this step, V]
                probs[:, now] = sampling_probs(logits, temperature, top_k)
                tokens[:, now] = draw(probs[:, now], generator)
            known = known + self._embed_codes(tokens[:, None], level)
            levels.append(tokens)
            level_probs.append(probs)
        return torch.stack(levels, dim=1), self.summarize(hidden), torch.stack(level_probs, dim=1)

    def _embed_codes(self, codes: torch.Tensor, first_level: int) -> torch.Tensor:
        """codes [B, k, T] of levels first_level.. -> summed embeddings [B, T, D]."""
        offsets = self.offsets[first_level : first_level + codes.shape[1], None]
        return self._embed(codes + offsets).sum(dim=1)

    def _embed(self, rows: torch.Tensor) -> torch.Tensor:
        """Embeddings [..., D] of code rows (level * codebook_size + code):
        the learnt table's, plus the projected codebook vector."""
        return self.code_emb(rows) + self.latent_in(self.codebook_vectors[rows])

    def fine_latent(self, codes: torch.Tensor, first_level: int) -> torch.Tensor:
        """codes [B, k, T] of levels first_level.. -> the sum of their
        codebook vectors [B, T, latent] (zeros for k = 0)."""
        offsets = self.offsets[first_level : first_level + codes.shape[1], None]
        return self.codebook_vectors[codes + offsets].sum(dim=1)  # [B, T, L]

    @torch.no_grad()
    def set_codebooks(self, vectors: torch.Tensor) -> None:
        """The codec's codebook vectors [codebooks, codebook_size, latent_dim]."""
        ts = self.config.token_space
        want = (ts.codebooks, ts.codebook_size, self.config.latent_dim)
        if tuple(vectors.shape) != want:
            raise ValueError(f"codebook vectors must be {list(want)}, got {list(vectors.shape)}")
        self.codebook_vectors.copy_(vectors.reshape(-1, vectors.shape[-1]))

    def _frame_context(self, plan: PlanContext) -> torch.Tensor:
        """What each frame hears of the plan at its own time [B, T, D]: the
        semantic token it falls under and the section it belongs to."""
        encoder = self.plan_encoder  # the memory's tables: the frames hear the plan in the memory's terms
        sections = encoder.section(plan.sections)  # [B, S, D]
        index = plan.frame_section[..., None].expand(-1, -1, sections.shape[-1])  # [B, T, D]
        return encoder.semantic(plan.semantic.gather(1, plan.frame_semantic)) + sections.gather(1, index)

    def _pass(
        self,
        frames: torch.Tensor,
        tokens: torch.Tensor,
        visible: torch.Tensor,
        level: int,
        memory: tuple[torch.Tensor, torch.Tensor],
        summary: torch.Tensor | None,
    ) -> torch.Tensor:
        """One bidirectional pass predicting `level`: frames [B, T, D] carry the
        levels below and the frame context; tokens [B, T] the level's codes,
        read where visible [T] (the prefix, which the model sees so it
        continues the previous chunk, and the frames of earlier steps)."""
        x = frames + self.level_emb.weight[level - self.coarse]
        x = x + self._given(self._embed(tokens + self.offsets[level]), visible)
        return self._run(x, memory, summary)

    def _run(
        self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor], summary: torch.Tensor | None
    ) -> torch.Tensor:
        """Frame inputs x [B, T, D] after the summary vectors (or the learned
        "no summary" ones) -> hidden [B, n + T, D]."""
        if summary is None:
            head = self.no_summary[None].expand(x.shape[0], -1, -1)
        else:
            head = self.summary_in(summary)  # [B, n, D]
        return self.transformer(torch.cat([head, x], dim=1), *memory, causal=False)
