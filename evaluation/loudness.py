"""Loudness of a whole clip, and the floor below which there is nothing to
measure: every analysis in evaluation/ answers "silent" rather than reading
tempo, key or drums into numerical dust."""
from __future__ import annotations

import numpy as np

# Mastered corpus songs sit near -18 dBFS RMS (corpus.synth.TARGET_RMS); -60 dBFS is far below any
# music and far above the rounding noise of float32 silence.
SILENCE_DBFS = -60.0


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level in dB relative to a full-scale (+-1.0) signal; -inf for
    digital silence or an empty clip."""
    if audio.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0.0 else float("-inf")


def is_silent(audio: np.ndarray) -> bool:
    return rms_dbfs(audio) < SILENCE_DBFS
