"""The overlap-add crossfade that joins rendered chunks into one stream."""
from __future__ import annotations

import numpy as np

from hiermusic.services.common.chunk_layout import Chunk


class Crossfader:
    """Joins chunk audio by a linear overlap-add over each overlap zone. The
    tail that the next chunk will overlap is held back until it arrives, so
    every emitted sample is final."""

    def __init__(self, hop: int) -> None:
        self.hop = hop
        self._tail = np.zeros(0, dtype=np.float32)

    def add(self, chunk: Chunk, audio: np.ndarray, next_chunk: Chunk | None) -> np.ndarray:
        lap = chunk.overlap * self.hop
        if lap:
            # Linear suits the overlap: both sides decode the same coarse tokens.
            fade = np.linspace(0.0, 1.0, lap + 2, dtype=np.float32)[1:-1]
            audio = audio.copy()
            audio[:lap] = self._tail[:lap] * (1.0 - fade) + audio[:lap] * fade
        if next_chunk is None:
            self._tail = np.zeros(0, dtype=np.float32)
            return audio
        keep = (next_chunk.start - chunk.start) * self.hop
        self._tail = audio[keep:]
        return audio[:keep]
