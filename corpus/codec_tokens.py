"""Codec tokens of corpus audio, through the temporal level's codec plugin so
the corpus and the service agree on the token space."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.plugins import load_plugin

WINDOW_S = 20.0  # encode in windows to bound memory on long pieces


def load_codec(plugin: str = "stft_magnitude", checkpoint: Path | None = None, device: str = "cpu"):  # -> Codec
    return load_plugin("codec", plugin)(checkpoint, resolve_device(device))


def encode_audio(codec, audio: np.ndarray) -> np.ndarray:
    """int16 [codebooks, ceil(samples / hop)] for float32 mono audio at the codec's rate."""
    hop = codec.hop_length
    window = int(WINDOW_S * codec.frame_rate) * hop  # a whole number of frames
    frames = []
    for start in range(0, len(audio), window):
        piece = torch.from_numpy(np.ascontiguousarray(audio[start : start + window], dtype=np.float32))
        frames.append(codec.encode(piece[None, None])[0].cpu().numpy())  # [K, t]
    return np.concatenate(frames, axis=1).astype(np.int16)
