"""The synthesizer: exact length, a mix that never clips, bit-for-bit
determinism, timbres that really differ, right pitches, drums in their bands,
velocity, and speed on one core."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from hiermusic.corpus.performance import (
    DRUM_KINDS,
    SAMPLE_RATE,
    TIMBRES,
    DrumHit,
    Note,
    Performance,
)
from hiermusic.corpus.synth import CEILING, render

GROOVE = ("kick", "hat", "snare", "hat", "kick", "open_hat", "snare", "hat")


def dense_performance(duration_s: float, seed: int = 0) -> Performance:
    """Four parts, 8 notes/s in all, and 8 drum hits/s: busier than most songs."""
    rng = np.random.default_rng(seed)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    # part, timbre, lowest pitch, note length (s), notes per second
    parts = [("lead", "plucked", 72, 0.25, 3.0), ("chords", "keys", 60, 0.5, 2.0),
             ("pad", "pad", 55, 2.0, 1.0), ("bass", "bass", 40, 0.5, 2.0)]
    notes = []
    for part, timbre, low, length, rate in parts:
        for onset in np.arange(0.0, duration_s, 1.0 / rate):
            pitch = low + int(scale[rng.integers(7)]) + 12 * int(rng.integers(2))
            notes.append(Note(float(onset), length, pitch, float(rng.uniform(0.4, 1.0)), timbre, part))
    drums = [DrumHit(i / 8, GROOVE[i % 8], float(rng.uniform(0.5, 1.0))) for i in range(int(duration_s * 8))]
    gains = {"lead": 1.0, "chords": 0.7, "pad": 0.5, "bass": 0.9, "drums": 0.8}
    return Performance(duration_s, notes, drums, gains)


def one_note(timbre: str, pitch: int = 57, held_s: float = 1.5, total_s: float = 2.0) -> np.ndarray:
    return render(Performance(total_s, [Note(0.0, held_s, pitch, 0.8, timbre)]))


def _power_spectrum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    return np.fft.rfftfreq(len(y), 1 / SAMPLE_RATE), spectrum


def _centroid_hz(y: np.ndarray) -> float:
    """Magnitude-weighted mean frequency: how bright it sounds."""
    freqs, power = _power_spectrum(y)
    return float((np.sqrt(power) * freqs).sum() / np.sqrt(power).sum())


@pytest.mark.parametrize("duration_s", [0.0, 0.3, 1.23456, 7.00002])
def test_length_is_exact(duration_s: float) -> None:
    audio = render(dense_performance(duration_s))
    assert audio.dtype == np.float32
    assert audio.shape == (round(duration_s * SAMPLE_RATE),)


def test_finite_loud_enough_and_never_clips() -> None:
    audio = render(dense_performance(10.0))
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() <= CEILING
    assert np.sqrt(np.mean(audio**2)) > 0.05


def test_a_pile_up_of_loud_notes_does_not_clip() -> None:
    notes = [Note(0.5, 1.0, p, 1.0, t, "x") for p in range(40, 80, 3) for t in TIMBRES]
    hits = [DrumHit(0.5, k, 1.0) for k in DRUM_KINDS for _ in range(5)]
    audio = render(Performance(3.0, notes, hits, {"x": 50.0, "drums": 50.0}))
    assert np.isfinite(audio).all() and 0.5 < np.abs(audio).max() <= CEILING


def test_silence_stays_silent() -> None:
    assert not render(Performance(1.0)).any()


def test_same_seed_same_bits_other_seed_other_drums() -> None:
    performance = dense_performance(5.0)
    first = render(performance, seed=3)
    np.random.seed(12345)  # global random state must not matter
    assert np.array_equal(first, render(performance, seed=3))
    other = render(performance, seed=4)
    assert not np.array_equal(first, other)
    # Only the drum noise depends on the seed: notes alone are seed-free.
    notes_only = Performance(5.0, performance.notes, [], performance.gains)
    assert np.array_equal(render(notes_only, seed=3), render(notes_only, seed=4))


def _features(y: np.ndarray, f0: float) -> dict[str, float]:
    """Attack time, brightness, how well it sustains, and how inharmonic it is."""
    frame = 240
    env = np.sqrt(np.mean(y[: len(y) // frame * frame].reshape(-1, frame) ** 2, axis=1))

    def level(from_s: float, to_s: float) -> float:
        return float(env[int(from_s * SAMPLE_RATE / frame) : int(to_s * SAMPLE_RATE / frame)].mean())

    early = y[int(0.05 * SAMPLE_RATE) : int(0.55 * SAMPLE_RATE)]
    freqs, power = _power_spectrum(early)
    harmonic = np.abs(freqs / f0 - np.round(freqs / f0)) < 0.1
    return {
        "attack_s": max(np.argmax(env >= 0.5 * env.max()) * frame / SAMPLE_RATE, 0.01),
        "centroid_hz": _centroid_hz(early),
        "sustain": level(1.2, 1.4) / level(0.6, 0.8),
        "inharmonic": float(power[~harmonic].sum() / power.sum()),
    }


def test_every_timbre_differs_from_every_other() -> None:
    # Same pitch (A3), velocity and length for all six: whatever differs is timbre.
    features = {t: _features(one_note(t), 220.0) for t in TIMBRES}
    assert features["pad"]["attack_s"] > 0.2 > features["organ"]["attack_s"]
    assert features["organ"]["sustain"] > 0.9 > features["plucked"]["sustain"]
    assert features["bell"]["inharmonic"] > 0.1 > max(f["inharmonic"] for t, f in features.items() if t != "bell")
    for a, b in itertools.combinations(TIMBRES, 2):
        fa, fb = features[a], features[b]
        ratios = [abs(np.log(fa[k] / fb[k])) for k in ("attack_s", "centroid_hz", "sustain")]
        # Some feature differs by 25% or more, or one is clearly inharmonic and the other not.
        assert max(ratios) > np.log(1.25) or abs(fa["inharmonic"] - fb["inharmonic"]) > 0.05, (a, b, fa, fb)


@pytest.mark.parametrize("timbre", ["keys", "organ", "plucked", "bass", "pad"])
def test_a4_sounds_at_440_hz(timbre: str) -> None:
    y = one_note(timbre, pitch=69, held_s=2.0, total_s=2.0)
    freqs, power = _power_spectrum(y[int(0.6 * SAMPLE_RATE) :])  # past the pad's attack
    assert abs(freqs[np.argmax(power)] - 440.0) < 4.4


@pytest.mark.parametrize("timbre", TIMBRES)
def test_notes_start_and_end_without_clicks(timbre: str) -> None:
    y = render(Performance(4.0, [Note(1.0, 0.5, 60, 1.0, timbre)]))
    start = SAMPLE_RATE
    assert not y[:start].any()
    assert np.abs(y[start : start + 3]).max() < 0.02 * np.abs(y).max()
    # Whatever the voice's release, it ends in a fade that reaches zero.
    last = np.flatnonzero(y)[-1]
    assert np.abs(y[last - 2 : last + 1]).max() < 0.02 * np.abs(y).max()


def test_kick_is_low_and_hats_are_high() -> None:
    for kind in DRUM_KINDS:
        freqs, power = _power_spectrum(render(Performance(1.0, drums=[DrumHit(0.0, kind, 1.0)])))
        below_150, above_5k = power[freqs < 150].sum() / power.sum(), power[freqs > 5000].sum() / power.sum()
        if kind == "kick":
            assert below_150 > 0.8
        elif kind in ("hat", "open_hat"):
            assert above_5k > 0.9
        else:  # the snare has both a body and the wires' hiss
            assert below_150 < 0.1 and above_5k > 0.1


def test_velocity_sets_loudness_and_brightness() -> None:
    notes = [Note(0.0, 1.0, 60, 0.3, "plucked"), Note(2.0, 1.0, 60, 0.9, "plucked")]
    hits = [DrumHit(0.0, "snare", 0.3), DrumHit(2.0, "snare", 0.9)]
    for performance in (Performance(4.0, notes=notes), Performance(4.0, drums=hits)):
        y = render(performance)
        soft, loud = y[: SAMPLE_RATE // 2], y[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + SAMPLE_RATE // 2]
        assert np.sqrt(np.mean(loud**2)) > 3.0 * np.sqrt(np.mean(soft**2))
    y = render(Performance(4.0, notes=notes))
    soft, loud = (_centroid_hz(y[start : start + SAMPLE_RATE // 4]) for start in (0, 2 * SAMPLE_RATE))
    assert loud > 1.2 * soft


def test_unknown_instrument_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown timbre 'kazoo'"):
        render(Performance(1.0, [Note(0.0, 0.5, 60, 0.5, "kazoo")]))
    with pytest.raises(ValueError, match="unknown drum kind 'cowbell'"):
        render(Performance(1.0, drums=[DrumHit(0.0, "cowbell", 0.5)]))
    with pytest.raises(ValueError, match="non-finite velocity"):
        render(Performance(1.0, drums=[DrumHit(0.0, "kick", float("nan"))]))


def test_at_least_50x_real_time_on_one_core() -> None:
    # Nothing here is multithreaded (no BLAS, no torch), so one process is one core.
    performance = dense_performance(60.0)
    best = min(_timed(performance) for _ in range(3))
    assert 60.0 / best >= 50.0, f"{60.0 / best:.0f}x real time"


def _timed(performance: Performance) -> float:
    start = time.perf_counter()
    render(performance)
    return time.perf_counter() - start
