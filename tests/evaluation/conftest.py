"""Audio with known answers: composed corpus songs (labels from the spec) and
signals that have no tempo, key or structure to find."""
from __future__ import annotations

import numpy as np
import pytest

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.corpus.synth import render

SR = 24000
SONGS = 24  # seeds 1000.. so these are not the songs corpus tests use


@pytest.fixture(scope="session")
def corpus_songs() -> list[tuple[SongLabels, np.ndarray]]:
    out = []
    for seed in range(1000, 1000 + SONGS):
        performance, labels = arrange(compose_spec(seed))
        out.append((labels, render(performance, seed)))
    return out


@pytest.fixture(scope="session")
def white_noise() -> np.ndarray:
    return (0.3 * np.random.default_rng(0).standard_normal(30 * SR)).astype(np.float32)


@pytest.fixture(scope="session")
def silence() -> np.ndarray:
    return np.zeros(30 * SR, dtype=np.float32)


@pytest.fixture(scope="session")
def click_track() -> np.ndarray:
    """A metronome at 120 bpm: 5 ms clicks of broadband noise every 0.5 s."""
    audio = np.zeros(30 * SR, dtype=np.float32)
    click = 0.8 * np.random.default_rng(1).standard_normal(int(0.005 * SR)).astype(np.float32)
    for start in range(0, len(audio) - len(click), SR // 2):
        audio[start : start + len(click)] = click
    return audio
