"""Transformer building blocks shared by the levels: pre-norm blocks with
optional cross-attention, a key/value cache for step-by-step decoding, a
summary pooler and top-k sampling. Read it top to bottom, nanoGPT-style."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TransformerConfig:
    dim: int = 256
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.0
    max_len: int = 1024
    cross_attention: bool = True


class KVCache:
    """Keys and values of the tokens decoded so far, one entry per layer. With
    a capacity it writes into buffers sized once: growing by torch.cat re-copies
    the whole past at every step, which dominates long decodes on a CPU."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}
        self.filled: dict[int, int] = {}
        # Cross-attention keys and values per layer: the memory is the same at
        # every step, so it is projected once, not once per token.
        self.memory: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def length(self) -> int:
        """Tokens cached before the current forward pass (layer 0 is extended first)."""
        return self.past(0)

    def past(self, layer: int) -> int:
        return self.filled.get(layer, 0)

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.past(layer), self.past(layer) + k.shape[2]
        self.filled[layer] = end
        if self.capacity is None:
            if layer in self.keys:
                k = torch.cat([self.keys[layer], k], dim=2)
                v = torch.cat([self.values[layer], v], dim=2)
            self.keys[layer], self.values[layer] = k, v
            return k, v
        if end > self.capacity:
            raise ValueError(f"cache of {self.capacity} positions cannot take {end}")
        if layer not in self.keys:
            shape = (*k.shape[:2], self.capacity, k.shape[3])  # [B, H, capacity, D/H]
            self.keys[layer], self.values[layer] = k.new_empty(shape), v.new_empty(shape)
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        assert dim % heads == 0, "dim must divide into heads"
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape  # [B, T, D] -> [B, H, T, D/H]
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        source: torch.Tensor,
        *,
        causal: bool = False,
        key_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        memory_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Self-attention with `cache` (keys and values appended step by
        step), cross-attention to a fixed `source` with `memory_cache` (its
        keys and values projected on the first step and kept)."""
        b, t, d = x.shape
        q = self._split(self.q(x))
        if memory_cache is not None and layer in memory_cache.memory:
            k, v = memory_cache.memory[layer]
        else:
            k, v = (self._split(z) for z in self.kv(source).chunk(2, dim=-1))
            if memory_cache is not None:
                memory_cache.memory[layer] = (k, v)
        past = cache.past(layer) if cache is not None else 0
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        mask = None
        if key_mask is not None:  # [B, S] True = attend
            mask = key_mask[:, None, None, :]
        if causal and t > 1:
            # Query i (absolute past + i) sees keys up to past + i.
            rows = torch.arange(t, device=x.device)[:, None] + past
            cols = torch.arange(k.shape[2], device=x.device)[None, :]
            causal_mask = (cols <= rows)[None, None]
            mask = causal_mask if mask is None else mask & causal_mask
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.dim
        self.norm1 = nn.LayerNorm(d)
        self.attn = Attention(d, config.heads, config.dropout)
        self.cross = None
        if config.cross_attention:
            self.norm_cross = nn.LayerNorm(d)
            self.cross = Attention(d, config.heads, config.dropout)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(
            nn.Linear(d, config.ff_mult * d),
            nn.GELU(),
            nn.Linear(config.ff_mult * d, d),
            nn.Dropout(config.dropout),
        )

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None,
        memory_mask: torch.Tensor | None,
        *,
        causal: bool,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, causal=causal, cache=cache, layer=layer)
        if self.cross is not None and memory is not None:
            x = x + self.cross(self.norm_cross(x), memory, key_mask=memory_mask, memory_cache=cache, layer=layer)
        return x + self.ff(self.norm2(x))


class Transformer(nn.Module):
    """A stack of blocks with learned positions. `forward` takes embeddings, so
    each level decides what a token is; `cache` makes causal decoding O(T)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.pos = nn.Embedding(config.max_len, config.dim)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        *,
        causal: bool = True,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        start = cache.length if cache is not None else 0
        end = start + x.shape[1]
        if end > self.config.max_len:
            raise ValueError(f"sequence of {end} exceeds max_len {self.config.max_len}")
        x = x + self.pos(torch.arange(start, end, device=x.device))[None]
        for i, block in enumerate(self.blocks):
            x = block(x, memory, memory_mask, causal=causal, cache=cache, layer=i)
        return self.norm(x)


class SummaryPooler(nn.Module):
    """Learned queries that read a chunk's hidden states into `count` summary
    vectors: what the next chunk of the same level gets to remember."""

    def __init__(self, count: int, dim: int, out_dim: int, heads: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(count, dim) * 0.02)
        self.attn = Attention(dim, heads, 0.0)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        q = self.queries[None].expand(hidden.shape[0], -1, -1)  # [B, count, D]
        return self.proj(self.norm(q + self.attn(q, hidden)))  # [B, count, out_dim]


def keep_top_k(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """[..., V] logits with all but the top_k largest set to -inf (top_k <= 0 or >= V: unchanged)."""
    if not 0 < top_k < logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def floored(logits: torch.Tensor, evidence: torch.Tensor, floor: float) -> torch.Tensor:
    """The candidates (finite logits) whose evidence reaches `floor` (a log
    probability); unchanged where none does, so a step always has a token."""
    keep = torch.isfinite(logits) & (evidence >= floor)
    return logits.masked_fill(~keep, float("-inf")) if bool(keep.any()) else logits


def sampling_probs(logits: torch.Tensor, temperature: float, top_k: int) -> torch.Tensor:
    """The distribution `sample` draws from: float32 [..., V] from [..., V]
    logits; temperature <= 0 gives the argmax as a one-hot."""
    if temperature <= 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).float()
    return torch.softmax(keep_top_k(logits / temperature, top_k).float(), dim=-1)


def sample(
    logits: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Samples ids from [..., V] logits; temperature <= 0 means argmax."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    return draw(sampling_probs(logits, temperature, top_k), generator)


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One id from each of the [..., V] distributions `probs`."""
    flat = probs.reshape(-1, probs.shape[-1])
    ids = torch.multinomial(flat.cpu() if generator is not None else flat, 1, generator=generator)
    return ids.to(probs.device).reshape(probs.shape[:-1])


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)
