"""The temporal level's loudness automation follows the plan's energy."""
from __future__ import annotations

import numpy as np

from hiermusic.services.temporal.energy_gain import energy_gain


def test_gain_spans_the_asked_decibels_and_ramps_between_sections():
    energy = np.array([0.0, 1.0], np.float32)
    frames = np.array([0] * 10 + [1] * 10)
    gain = energy_gain(energy, frames, hop=100, span_db=3.0)
    assert gain.shape == (2000,)
    db = 20 * np.log10(gain)
    np.testing.assert_allclose(db[:900], -1.5, atol=1e-5)
    np.testing.assert_allclose(db[1100:], 1.5, atol=1e-5)
    ramp = np.diff(db[900:1100])
    assert (ramp >= 0).all() and ramp.max() < 0.05  # no step: a click-free ramp over one hop


def test_no_span_is_unity_and_overlapping_chunks_agree():
    assert np.allclose(energy_gain(np.array([0.2]), np.zeros(5, int), 10, 0.0), 1.0)
    energy = np.array([0.3, 0.9])
    piece = np.array([0] * 12 + [1] * 12)
    whole = energy_gain(energy, piece, 10, 4.0)
    later = energy_gain(energy[1:], piece[16:] - 1, 10, 4.0)  # a chunk from frame 16, one section
    np.testing.assert_allclose(later, whole[160:], rtol=1e-6)
