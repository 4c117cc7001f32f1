"""The fidelity of a named codec checkpoint on held-out corpus audio, as
the evaluation reports it (the measures are the temporal level's own,
services/temporal/codec_fidelity.py, which its trainer validates with)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hiermusic.corpus.codec_tokens import load_codec
from hiermusic.services.temporal.codec_fidelity import fidelity_of


def codec_fidelity(songs: list[np.ndarray], plugin: str, checkpoint: Path | None, coarse_codebooks: int,
                   clip_s: float = 10.0, device: str = "cpu") -> dict:
    """SI-SNR (dB) and mel distance of a `clip_s` clip from the middle of each
    song, with which codec made them."""
    codec = load_codec(plugin, checkpoint, device)
    return {
        "codec": {"plugin": plugin, "version": codec.version, "digest": codec.digest, "trained": codec.trained},
        **fidelity_of(codec, songs, coarse_codebooks, clip_s),
    }
