"""The drum kit: kick, snare, closed and open hi-hat.

Noise is filtered once per render into a *bank* per colour; every hit reads
its own random stretch of the bank (offsets from the render's seeded
generator). Filtering a bank of a second costs the same whether a song has
ten hits or ten thousand, where filtering hit by hit would not.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

from hiermusic.corpus.performance import DRUM_KINDS, SAMPLE_RATE, DrumHit

BANK_S = 1.0  # long enough that hits rarely share noise
FILTER_WARMUP = 2048  # samples dropped from a bank so the filter has settled
TAIL_FADE_S = 0.03  # every hit ends on a fade: no click at its last sample
ATTACK_S = 0.001

KICK_START_HZ = 160.0  # the beater's thump sweeps down...
KICK_END_HZ = 48.0  # ...to the drum's resonance
KICK_SWEEP_S = 0.035
SNARE_BODY_HZ = (180.0, 280.0)  # the shell's two lowest modes
SNARE_BAND_HZ = (1200.0, 9000.0)  # the wires
HAT_CUTOFF_HZ = 7000.0


@dataclass(frozen=True)
class _Sound:
    tone: np.ndarray  # (n,) the pitched part, already enveloped; empty for hats
    noise: np.ndarray  # (m,) envelope applied to a stretch of the bank's noise
    bank: str  # which noise bank feeds it


def _envelope(tau_s: float, length_s: float) -> np.ndarray:
    """Exponential decay with a 1 ms attack and a short closing fade, (n,)."""
    n = int(length_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    env = np.exp(-t / tau_s) * np.minimum(1.0, t / ATTACK_S)
    fade = min(int(TAIL_FADE_S * SAMPLE_RATE), n // 2)
    env[-fade:] *= np.linspace(1.0, 0.0, fade)
    return env.astype(np.float32)


def _kit() -> dict[str, _Sound]:
    t = np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE
    # Phase of the exponential sweep END + (START - END) exp(-t / SWEEP), integrated.
    sweep = (KICK_START_HZ - KICK_END_HZ) * KICK_SWEEP_S * (1 - np.exp(-t / KICK_SWEEP_S))
    kick = np.sin(2 * np.pi * (KICK_END_HZ * t + sweep)) * _envelope(0.18, 0.8)
    ts = t[: int(0.4 * SAMPLE_RATE)]
    low_mode, high_mode = (np.sin(2 * np.pi * hz * ts) for hz in SNARE_BODY_HZ)
    snare = (0.7 * low_mode + 0.4 * high_mode) * _envelope(0.05, 0.4)
    no_tone = np.zeros(0, np.float32)
    return {
        # The beater's click: 2 ms of the snare's band of noise, far below the thump.
        "kick": _Sound(kick.astype(np.float32), 0.04 * _envelope(0.002, 0.02), "snare"),
        "snare": _Sound(snare.astype(np.float32), 0.6 * _envelope(0.09, 0.4), "snare"),
        "hat": _Sound(no_tone, 0.16 * _envelope(0.022, 0.15), "hat"),
        "open_hat": _Sound(no_tone, 0.12 * _envelope(0.18, 0.7), "hat"),
    }


KIT = _kit()


def _banks(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A second of white noise per colour, filtered and scaled to unit RMS."""
    filters = {
        "snare": signal.butter(2, SNARE_BAND_HZ, "bandpass", fs=SAMPLE_RATE, output="sos"),
        "hat": signal.butter(4, HAT_CUTOFF_HZ, "highpass", fs=SAMPLE_RATE, output="sos"),
    }
    banks = {}
    for name, sos in filters.items():
        noise = signal.sosfilt(sos, rng.standard_normal(int(BANK_S * SAMPLE_RATE) + FILTER_WARMUP))[FILTER_WARMUP:]
        banks[name] = (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)
    return banks


def render_drums(hits: Sequence[DrumHit], n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The drum part, (n_samples,) float32, before the mix gain."""
    out = np.zeros(n_samples, np.float32)
    if not hits:
        return out
    banks = _banks(rng)
    for hit in hits:
        sound = KIT.get(hit.kind)
        if sound is None:
            raise ValueError(f"unknown drum kind {hit.kind!r}; known: {', '.join(DRUM_KINDS)}")
        start = round(hit.onset_s * SAMPLE_RATE)
        loudness = np.float32(np.clip(hit.velocity, 0.0, 1.0) ** 1.5)
        bank = banks[sound.bank]
        offset = int(rng.integers(0, len(bank) - len(sound.noise)))
        noise = sound.noise * bank[offset : offset + len(sound.noise)]
        for wave in (sound.tone, noise):
            lo, hi = max(start, 0), min(start + len(wave), n_samples)
            if lo < hi:
                out[lo:hi] += loudness * wave[lo - start : hi - start]
    return out
