"""The temporal level's loudness automation: each frame's gain follows its
section's planned energy, as a mix follows a chart. Why: the corpus's own
energy is partly a level (corpus/arranger.py plays a section at 0.45 + 0.55 x
energy, 6.9 dB from energy 0 to 1), and the bundled models realise about
half of that: a verse asked quiet (energy 0) and a chorus asked loud (1) came
out 2.2-8.9 dB apart, median 3.5, under the 3 dB issue 27 asks in 4 of 21
pieces (7 prompts x seeds 0-2). docs/experiments/sampling-knobs.md has the
measurements."""
from __future__ import annotations

import numpy as np


def energy_gain(section_energy: np.ndarray, frame_section: np.ndarray, hop: int, span_db: float) -> np.ndarray:
    """float32 [frames * hop]: the gain of each sample, `span_db` from energy 0
    to energy 1, unity at energy 0.5. `section_energy` [k] and
    `frame_section` [frames] (index into it) as in the chunk's context. The
    gain steps only between frame centres, linearly over one hop, so a
    section boundary does not click; it is a function of the plan alone, so
    two chunks that overlap agree on it (but for the half hop before a chunk's
    first frame centre, held flat) and the crossfade joins them unchanged."""
    frame_db = span_db * (np.asarray(section_energy, np.float64)[frame_section] - 0.5)
    frames = len(frame_section)
    centres = (np.arange(frames) + 0.5) * hop
    samples = np.arange(frames * hop)
    return (10.0 ** (np.interp(samples, centres, frame_db) / 20.0)).astype(np.float32)
