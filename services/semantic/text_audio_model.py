"""The MuLan-style joint text–audio space (ARCHITECTURE.md §3, objective 2):
the existing text tower (frozen MiniLM + learned projection) and the audio
tower, trained with a symmetric InfoNCE loss. Evaluation scores a generated
piece against its prompt with `agreement`; the levels can later be
conditioned on either side of the space."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hiermusic.services.common.checkpoint import ModelCard, save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import load_or_init, state_digest
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.semantic.audio_tower import AudioTower, AudioTowerConfig
from hiermusic.services.semantic.text_tower import TextTower, TextTowerConfig

PLUGIN = "text_audio_contrastive"
LEVEL = "semantic"
VERSION = "text-audio-0.1"
MAX_LOGIT_SCALE = 100.0  # temperature >= 0.01, as in CLIP: a larger scale destabilises training

AudioBatch = np.ndarray | torch.Tensor | Sequence[np.ndarray] | Sequence[torch.Tensor]


@dataclass
class TextAudioConfig:
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    audio: AudioTowerConfig = field(default_factory=AudioTowerConfig)
    embedding_dim: int = TokenSpaceConfig().embedding_dim
    temperature_init: float = 0.07


class TextAudioModel(nn.Module):
    """Both towers and the learned temperature. MiniLM itself lives outside
    the module (see text_tower), so checkpoints carry only what is trained."""

    def __init__(self, config: TextAudioConfig) -> None:
        super().__init__()
        self.config = config
        self.text = TextTower(config.text, config.embedding_dim)
        self.audio = AudioTower(config.audio, config.embedding_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature_init)))

    @property
    def device(self) -> torch.device:
        return self.log_scale.device

    @torch.no_grad()
    def embed_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """Prompts -> [B, E] unit vectors."""
        return self.text.embed(prompts)

    @torch.no_grad()
    def embed_audio(self, audio: AudioBatch) -> torch.Tensor:
        """24 kHz mono pieces, [B, samples] or a list of any lengths -> [B, E]
        unit vectors, each the mean over the crops that cover the whole piece."""
        if isinstance(audio, (np.ndarray, torch.Tensor)) and audio.ndim != 2:
            raise ValueError(f"audio must be [B, samples] or a list of pieces, got shape {tuple(audio.shape)}")
        pieces = [torch.as_tensor(a).to(self.device, torch.float32) for a in audio]
        return torch.stack([self.audio.embed_waveform(p) for p in pieces])

    def logit_scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def info_nce(self, text_emb: torch.Tensor, audio_emb: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE over a batch of matching pairs [B, E], [B, E]:
        row i's positive is column i, every other item in the batch a negative."""
        logits = self.logit_scale() * text_emb @ audio_emb.T  # [B, B]
        target = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    def card(self, **extra: Any) -> ModelCard:
        return ModelCard(
            plugin=PLUGIN,
            level=LEVEL,
            version=f"{VERSION}-{state_digest(self)[:8]}",  # two trainings are two versions
            config=asdict(self.config),
            token_space=asdict(TokenSpaceConfig()),
            **extra,
        )

    def save(self, path: Path, card_extra: dict[str, Any] | None = None) -> str:
        """Safetensors + JSON card; `card_extra` fills the card's trained, data,
        steps, wall_time_s and metrics. Returns the weights' sha256."""
        return save_checkpoint(self, self.card(**(card_extra or {})), path)

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> TextAudioModel:
        """The model saved at `path`, rebuilt from its card's config, in eval mode."""
        loaded = load_or_init(PLUGIN, LEVEL, TextAudioConfig, cls, Path(path), resolve_device(device))
        return loaded.module  # type: ignore[return-value]


def retrieval_ranks(text_emb: torch.Tensor, audio_emb: torch.Tensor) -> torch.Tensor:
    """For each text i [N, E], the 1-based rank of audio i among all N audios
    [N, E] by cosine (ties count against it). int64 [N]."""
    sim = text_emb @ audio_emb.T  # [N, N]
    return (sim > sim.diagonal()[:, None]).sum(dim=1) + 1


def recall_at(ranks: torch.Tensor, k: int) -> float:
    return float((ranks <= k).float().mean())


def agreement(model: TextAudioModel, prompts: list[str], audio: list[np.ndarray]) -> dict[str, Any]:
    """How well each piece (24 kHz mono, whole) matches its own prompt:
    per-pair cosine of prompt i with audio i, their mean, and the rank of
    audio i among all given audios for prompt i (text -> audio retrieval;
    recall@k is the share ranked k or better, so it needs several pairs)."""
    if len(prompts) != len(audio) or not prompts:
        raise ValueError(f"need as many prompts as pieces, at least one; got {len(prompts)} and {len(audio)}")
    text = model.embed_text(prompts)  # [N, E]
    sound = model.embed_audio(audio)  # [N, E]
    ranks = retrieval_ranks(text, sound)
    cosine = (text * sound).sum(dim=-1)  # [N]
    return {
        "cosine": cosine.tolist(),
        "mean_cosine": float(cosine.mean()),
        "rank": ranks.tolist(),
        "recall@1": recall_at(ranks, 1),
        "recall@5": recall_at(ranks, 5),
        "recall@10": recall_at(ranks, 10),
        "pairs": len(prompts),
    }
