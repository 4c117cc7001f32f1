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


def _chords(chords: list[list[int]], phase: float = 0.0, seconds: float = 1.0) -> np.ndarray:
    """Each chord (MIDI notes) as harmonic tones for `seconds`; `phase`
    shifts every partial, so the same chords played again are other samples."""
    t = np.arange(int(seconds * SR)) / SR
    parts = []
    for chord in chords:
        tone = sum(np.sin(2 * np.pi * 440.0 * 2 ** ((n - 69) / 12) * h * t + phase * h * (n % 7 + 1)) / h
                   for n in chord for h in range(1, 5))
        parts.append(0.05 * tone * np.minimum(1.0, 20 * t))
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="session")
def returning_piece() -> tuple[np.ndarray, list[dict]]:
    """(audio, plan sections) of verse, chorus, verse, chorus in C major, 4 s
    each, no drums: the second verse is the first's samples pasted, the
    second chorus the same chords played again with other phases."""
    verse = [[48, 64, 67, 72], [53, 65, 69, 72], [55, 62, 67, 71], [48, 64, 67, 72]]  # I IV V I
    chorus = [[45, 64, 69, 72], [50, 62, 65, 69], [52, 64, 67, 71], [45, 60, 64, 69]]  # vi ii iii vi
    first_verse = _chords(verse)
    audio = np.concatenate([first_verse, _chords(chorus), first_verse, _chords(chorus, phase=1.0)])
    sections = [{"type": t, "start_s": 4.0 * i, "end_s": 4.0 * (i + 1), "energy": 0.5,
                 "repeat_of": i % 2 if i >= 2 else i}  # as a served plan marks them: first occurrences name themselves
                for i, t in enumerate(["verse", "chorus", "verse", "chorus"])]
    return audio, sections


@pytest.fixture(scope="session")
def judged_piece(returning_piece) -> dict:
    """returning_piece as the eval reports a piece: its plan, what its prompt
    asked (major, no drums) and every measure analyze_piece takes of it."""
    from hiermusic.evaluation.piece_analysis import analyze_piece
    from hiermusic.evaluation.prompt_set import AskedAttributes

    audio, sections = returning_piece
    record = {"sections": sections, "tempo_bpm": 120.0, "key": "C", "mode": "major", "joins": []}
    return {"id": "t01", "prompt": "calm piano in C major, no drums", "picture": "pieces/t01.png",
            "measures": analyze_piece(audio, SR, record, AskedAttributes(mode="major", drums=False))}
