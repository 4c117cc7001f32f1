"""The labels of composed songs agree with their rendered audio, judged by
librosa's analysis, not by the generator that wrote them."""
from __future__ import annotations

import numpy as np
import pytest

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.semantic_features import SEMANTIC_RATE, frame_features
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.corpus.synth import render
from hiermusic.services.common.librosa_cache import librosa

SR = 24000


@pytest.fixture(scope="module")
def songs():
    out = []
    for seed in range(24):
        performance, labels = arrange(compose_spec(seed))
        out.append((labels, render(performance, seed)))
    return out


def test_same_seed_same_audio_bit_for_bit():
    a = render(*[arrange(compose_spec(7))[0]], seed=7)
    b = render(*[arrange(compose_spec(7))[0]], seed=7)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    c = render(arrange(compose_spec(8))[0], seed=8)
    assert len(a) != len(c) or not np.allclose(a, c)


def test_beat_tracker_finds_the_labelled_tempo(songs):
    """Measured when written: 296 of 300 songs (whole songs); 24 songs here, first 40 s."""
    good = 0
    for labels, audio in songs:
        tempo, _ = librosa.beat.beat_track(y=audio[: 40 * SR], sr=SR, hop_length=512)
        tempo = float(np.atleast_1d(tempo)[0])
        good += any(abs(tempo * f - labels.tempo_bpm) <= 0.04 * labels.tempo_bpm for f in (1.0, 0.5, 2.0))
    assert good / len(songs) >= 0.9, f"{good}/{len(songs)}"


def _novelty(features: np.ndarray, half: int = 50) -> np.ndarray:
    """Foote's checkerboard novelty over the cosine self-similarity of frames;
    a 4 s half-width hears section changes rather than 4-bar phrase turns."""
    z = (features - features.mean(0)) / (features.std(0) + 1e-6)
    z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-9
    ssm = np.pad(z @ z.T, half)
    kernel = np.ones((2 * half, 2 * half))
    kernel[:half, half:] = kernel[half:, :half] = -1
    g = np.exp(-0.5 * ((np.arange(2 * half) - half + 0.5) / (half / 2)) ** 2)
    kernel *= np.outer(g, g)
    return np.array([(ssm[i : i + 2 * half, i : i + 2 * half] * kernel).sum() for i in range(len(z))])


def _share_above_background(novelty: np.ndarray, times: list[float], background: np.ndarray) -> list[bool]:
    peak = [novelty[max(0, int(t * SEMANTIC_RATE) - 6) : int(t * SEMANTIC_RATE) + 7].max() for t in times]
    return [p > np.percentile(background, 75) for p in peak]


def test_section_boundaries_coincide_with_changes_in_the_audio(songs):
    """A labelled boundary should sit on a novelty peak more often than a time
    inside a section does. Measured when written (24 songs): 62% of labelled
    boundaries above the 75th percentile of in-section novelty (chance: 25%),
    33% of mid-section points (which often fall on phrase turns)."""
    at_labels, moved = [], []
    for labels, audio in songs:
        novelty = _novelty(frame_features(audio))
        bounds = [s.start_s for s in labels.sections[1:]]
        inside = [t for t in np.arange(3.0, labels.duration_s - 3.0, 0.5)
                  if min(abs(t - b) for b in bounds) > 2.0]
        background = np.array([novelty[max(0, int(t * SEMANTIC_RATE) - 6): int(t * SEMANTIC_RATE) + 7].max()
                               for t in inside])
        at_labels += _share_above_background(novelty, bounds, background)
        mids = [(s.start_s + s.end_s) / 2 for s in labels.sections[1:-1] if s.end_s - s.start_s > 6.0]
        moved += _share_above_background(novelty, mids, background)
    assert np.mean(at_labels) >= 0.45, np.mean(at_labels)
    assert np.mean(at_labels) >= np.mean(moved) + 0.15, (np.mean(at_labels), np.mean(moved))


def test_repeated_sections_are_more_alike_than_different_ones(songs):
    """Measured when written: 20 of 20 songs; mean cosine 0.79 (same type) vs -0.28."""
    wins = 0
    for labels, audio in songs:
        f = frame_features(audio)
        z = (f - f.mean(0)) / (f.std(0) + 1e-6)
        means = [z[int(s.start_s * SEMANTIC_RATE): int(s.end_s * SEMANTIC_RATE)].mean(0) for s in labels.sections]
        pairs = [(i, j) for i in range(len(means)) for j in range(i + 1, len(means))]
        cos = {(i, j): means[i] @ means[j] / np.linalg.norm(means[i]) / np.linalg.norm(means[j]) for i, j in pairs}
        same = [c for (i, j), c in cos.items() if labels.sections[i].type == labels.sections[j].type]
        diff = [c for (i, j), c in cos.items() if labels.sections[i].type != labels.sections[j].type]
        wins += bool(same) and np.mean(same) > np.mean(diff)
    assert wins / len(songs) >= 0.85, f"{wins}/{len(songs)}"
