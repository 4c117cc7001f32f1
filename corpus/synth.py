"""Render a Performance to 24 kHz mono audio: voices, drums, mix, master.

Every distinct (timbre, pitch) is synthesised once per render, as long as its
longest note needs; each note is then a slice of that body scaled by its
velocity and mix gain and added into the output. Songs repeat pitches
constantly, so most of the work is slice arithmetic. Nothing reads global
random state: the seed feeds the drum noise and nothing else, so the same
performance and seed give the same audio bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from hiermusic.corpus.drums import render_drums
from hiermusic.corpus.performance import SAMPLE_RATE, Performance
from hiermusic.corpus.timbres import Body, body_samples, note_body, voice

DRUM_PART = "drums"  # key of Performance.gains that sets the kit's level
VELOCITY_CURVE = 1.5  # loudness = velocity ** curve: soft notes fall off faster than linearly
MIN_BRIGHTNESS = 0.1  # share of the upper partials a velocity-0 note keeps

TARGET_RMS = 10 ** (-18 / 20)  # loudness the master aims for
CEILING = 10 ** (-1 / 20)  # -1 dBFS: the output peak never exceeds it
KNEE = 0.7  # fraction of the ceiling above which the limiter starts to bend
MAX_DRIVE = 2.0  # most the limiter is pushed past the ceiling (sparse songs stay clean)


def render(performance: Performance, seed: int = 0) -> np.ndarray:
    """The performance as float32 mono at SAMPLE_RATE, exactly
    round(duration_s * SAMPLE_RATE) samples, finite, peak <= CEILING."""
    n = round(performance.duration_s * SAMPLE_RATE)
    mix = np.zeros(n, np.float32)
    if n == 0:
        return mix
    _check_finite(performance)
    bodies = _bodies(performance)
    fades: dict[str, np.ndarray] = {}
    for note in performance.notes:
        start = round(note.onset_s * SAMPLE_RATE)
        held = max(1, round(note.duration_s * SAMPLE_RATE))
        if start >= n:
            continue
        velocity = min(max(note.velocity, 0.0), 1.0)
        gain = performance.gains.get(note.part, 1.0) * velocity**VELOCITY_CURVE
        brightness = MIN_BRIGHTNESS + (1.0 - MIN_BRIGHTNESS) * velocity
        if note.timbre not in fades:
            fades[note.timbre] = _release_fade(note.timbre)
        wave = _note_wave(bodies[(note.timbre, note.pitch)], held, brightness, fades[note.timbre])
        lo, hi = max(start, 0), min(start + len(wave), n)
        if lo < hi:
            mix[lo:hi] += np.float32(gain) * wave[lo - start : hi - start]
    drum_gain = np.float32(performance.gains.get(DRUM_PART, 1.0))
    mix += drum_gain * render_drums(performance.drums, n, np.random.default_rng(seed))
    return master(mix)


def _check_finite(performance: Performance) -> None:
    """A NaN time or velocity would poison the whole mix: refuse it by name."""
    for event in [*performance.notes, *performance.drums]:
        for name in ("onset_s", "duration_s", "velocity"):
            if not math.isfinite(getattr(event, name, 0.0)):
                raise ValueError(f"{event} has a non-finite {name}")


def _bodies(performance: Performance) -> dict[tuple[str, int], Body]:
    """One body per (timbre, pitch), as long as its longest note needs."""
    lengths: dict[tuple[str, int], int] = {}
    for note in performance.notes:
        held = max(1, round(note.duration_s * SAMPLE_RATE))
        key = (note.timbre, note.pitch)
        lengths[key] = max(lengths.get(key, 0), body_samples(note.timbre, note.pitch, held))
    return {key: note_body(key[0], key[1], length) for key, length in lengths.items()}


def _release_fade(timbre: str) -> np.ndarray:
    """Raised-cosine fade from 1 to 0 over the voice's release, (r,) float32."""
    r = max(1, int(voice(timbre).release_s * SAMPLE_RATE))
    return (0.5 + 0.5 * np.cos(np.arange(1, r + 1) * (np.pi / r))).astype(np.float32)


def _note_wave(body: Body, held: int, brightness: float, fade: np.ndarray) -> np.ndarray:
    """One note at unit gain: the held part of the body, then its release,
    (m,) float32 with m <= held + len(fade)."""
    low, high = body
    m = min(len(low), held + len(fade))
    wave = low[:m] + np.float32(brightness) * high[:m]
    if m > held:
        wave[held:] *= fade[: m - held]
    return wave


def master(mix: np.ndarray) -> np.ndarray:
    """Bring a mix to TARGET_RMS, then a soft-knee limiter that keeps every
    sample under CEILING: (n,) float32 in, (n,) float32 out."""
    peak = float(np.max(np.abs(mix)))
    if peak == 0.0:
        return mix.astype(np.float32)
    rms = math.sqrt(float(np.mean(np.square(mix), dtype=np.float64)))
    gain = min(TARGET_RMS / rms, MAX_DRIVE * CEILING / peak)
    x = mix * np.float32(gain / CEILING)  # in units of the ceiling
    over = np.abs(x) > KNEE
    if over.any():
        # Above the knee, tanh bends the level towards 1 with a matching slope at the knee.
        loud = x[over]
        bent = KNEE + (1.0 - KNEE) * np.tanh((np.abs(loud) - KNEE) / (1.0 - KNEE))
        x[over] = np.sign(loud) * bent
    return (x * np.float32(CEILING)).astype(np.float32)
