from __future__ import annotations

import numpy as np

from hiermusic.orchestrator.crossfade import Crossfader
from hiermusic.services.common.chunk_layout import layout


def test_crossfade_emits_every_sample_once_and_joins_smoothly():
    hop, chunks = 10, layout(60, 25, 5)
    fader = Crossfader(hop)
    pieces = []
    for i, chunk in enumerate(chunks):
        audio = np.full(chunk.frames * hop, float(i), dtype=np.float32)
        pieces.append(fader.add(chunk, audio, chunks[i + 1] if i + 1 < len(chunks) else None))
    out = np.concatenate(pieces)
    assert len(out) == 60 * hop
    join = chunks[1].start * hop
    ramp = out[join : join + 5 * hop]
    assert np.all(np.diff(ramp) > 0) and 0 < ramp[0] < 0.1 and 0.9 < ramp[-1] < 1.0
