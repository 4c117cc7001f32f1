"""Text–audio agreement, judged by our own contrastive model (MuLan-style,
services/semantic/text_audio_model.py): the one measure where a model of
ours judges, so the report names it and its version."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

JUDGE = "hiermusic text–audio contrastive model (ours)"


def text_agreement(prompts: list[str], audios: list[np.ndarray], checkpoint: Path | None,
                   device: str = "cpu") -> dict:
    if checkpoint is None:
        return {"available": False, "judge": JUDGE,
                "reason": "no text–audio model: none bundled (weights/text_audio.safetensors) "
                          "and no --text-audio-checkpoint given"}
    from hiermusic.services.common.checkpoint import card_path
    from hiermusic.services.semantic.text_audio_model import TextAudioModel, agreement

    card = json.loads(card_path(checkpoint).read_text())
    model = TextAudioModel.load(checkpoint, device)
    with torch.inference_mode():
        scores = agreement(model, prompts, audios)
    return {
        "available": True,
        "judge": JUDGE,
        "version": card["version"],
        "trained": card["trained"],
        "checkpoint": str(checkpoint),
        "pairs": scores["pairs"],
        "mean_cosine": round(scores["mean_cosine"], 4),
        "recall_at_1": round(scores["recall@1"], 3),
        "recall_at_5": round(scores["recall@5"], 3),
        "per_piece_cosine": [round(c, 4) for c in scores["cosine"]],
    }
