"""The pitched voices of the synthesizer: plucked, keys, organ, pad, bass, bell.

A voice turns a pitch into a *body*: the waveform of the note held forever,
split into a `low` part and a `high` part so that velocity can set brightness
for free (note = low + brightness * high) from one cached body. Periodic
partials are read from a band-limited wavetable (one inverse FFT per pitch,
then an integer-indexed lookup per sample), which is far cheaper than summing
sines sample by sample and never aliases: partials above NYQUIST_FRACTION of
the sample rate are left out of the table.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hiermusic.corpus.performance import SAMPLE_RATE

TABLE_SIZE = 4096  # power of two: the phase wraps with a bit mask
NYQUIST_FRACTION = 0.45  # keep partials under 10.8 kHz, clear of aliasing
AUDIBLE_TAUS = 7.0  # an exponential decay is below -60 dB after 7 time constants
MAX_RING_S = 12.0  # longest a decaying note is ever synthesised


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _harmonics(f0: float) -> np.ndarray:
    """Harmonic numbers 1..K that stay under the aliasing limit, (K,)."""
    count = int(NYQUIST_FRACTION * SAMPLE_RATE / f0)
    return np.arange(1, count + 1, dtype=np.float64)


def _table(amps: np.ndarray, harmonics: np.ndarray) -> np.ndarray:
    """One period of sum_k amps[k] sin(2 pi k x), (TABLE_SIZE,) float32.
    Sine phases start every note at zero, so onsets do not click."""
    spectrum = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[harmonics.astype(np.int64)] = -0.5j * TABLE_SIZE * amps
    return np.fft.irfft(spectrum, TABLE_SIZE).astype(np.float32)


def _phase_index(f0: float, n: int, start_cycle: float = 0.0) -> np.ndarray:
    """Wavetable index of an oscillator at f0 Hz for n samples, starting
    start_cycle (0..1) into its period, (n,) int64."""
    step = f0 * TABLE_SIZE / SAMPLE_RATE
    return (np.arange(n) * step + start_cycle * TABLE_SIZE).astype(np.int64) & (TABLE_SIZE - 1)


def _audible(tau_s: float, n: int) -> int:
    """How many of n samples an exp(-t / tau) decay stays audible for: a
    fast-decaying band costs only its few milliseconds, not the whole body."""
    return min(n, int(AUDIBLE_TAUS * tau_s * SAMPLE_RATE))


def _decay(tau_s: float, m: int) -> np.ndarray:
    """exp(-t / tau) over m samples, (m,) float32."""
    return np.exp(np.arange(m, dtype=np.float32) * np.float32(-1.0 / (tau_s * SAMPLE_RATE)))


def _sine(hz: float, n: int) -> np.ndarray:
    """sin(2 pi hz t) for n samples, (n,) float32; for inharmonic partials,
    which no single-period wavetable can hold."""
    return np.sin(np.arange(n) * (2.0 * np.pi * hz / SAMPLE_RATE)).astype(np.float32)


def _attack(body: np.ndarray, attack_s: float) -> None:
    """Raised-cosine fade-in, in place: no click at the onset."""
    full = max(1, int(attack_s * SAMPLE_RATE))
    n = min(len(body), full)
    body[:n] *= (0.5 - 0.5 * np.cos(np.arange(n) * (np.pi / full))).astype(np.float32)


def _pitch_scale(f0: float) -> float:
    """High notes ring shorter than low ones, as on strings and tines."""
    return float(np.clip((220.0 / f0) ** 0.45, 0.35, 2.2))


Body = tuple[np.ndarray, np.ndarray]  # (low (n,), high (n,)) float32


PLUCKED_TAU_S = 1.1  # decay of the lowest harmonics at A3; higher ones die 3x and 9x faster
KEYS_TAU_S = 1.5  # decay of the electric piano's tone at A3
TINE_TAU_S = 0.03


def _plucked(f0: float, n: int) -> Body:
    # A plucked string: spectrum of a string released at 1/6 of its length,
    # upper harmonics dying faster (the loss filter of Karplus-Strong).
    k = _harmonics(f0)
    amps = np.abs(np.sin(np.pi * k / 6.0)) / k**1.2
    idx = _phase_index(f0, n)
    tau = PLUCKED_TAU_S * _pitch_scale(f0)
    low, high = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for out, band, band_tau in ((low, k <= 2, tau), (high, (k > 2) & (k <= 6), tau / 3), (high, k > 6, tau / 9)):
        if band.any():
            m = _audible(band_tau, n)
            out[:m] += _table(amps[band], k[band])[idx[:m]] * _decay(band_tau, m)
    _attack(low, 0.002)
    _attack(high, 0.002)
    return low, high


def _keys(f0: float, n: int) -> Body:
    # Electric piano: a round, nearly sinusoidal tone plus a tine "bark",
    # an inharmonic partial near the 7th harmonic that dies within 0.1 s.
    k = _harmonics(f0)
    idx = _phase_index(f0, n)
    tau = KEYS_TAU_S * _pitch_scale(f0)
    low, high = np.zeros(n, np.float32), np.zeros(n, np.float32)
    tone = np.array([1.0, 0.3, 0.08])[: len(k)]
    m = _audible(tau, n)
    low[:m] += _table(tone, k[: len(tone)])[idx[:m]] * _decay(tau, m)
    upper = (k >= 2) & (k <= 6)
    if upper.any():
        m = _audible(tau / 6, n)
        high[:m] += _table(0.25 / k[upper] ** 1.5, k[upper])[idx[:m]] * _decay(tau / 6, m)
    tine_hz = 7.1 * f0
    if tine_hz < NYQUIST_FRACTION * SAMPLE_RATE:
        m = _audible(TINE_TAU_S, n)
        high[:m] += 0.2 * _sine(tine_hz, m) * _decay(TINE_TAU_S, m)
    _attack(low, 0.003)
    _attack(high, 0.003)
    return low, high


ORGAN_DRAWBARS = {1: 1.0, 2: 0.7, 3: 0.45, 4: 0.35, 6: 0.2, 8: 0.15}  # harmonic -> level
LESLIE_HZ = 6.3


def _organ(f0: float, n: int) -> Body:
    # Additive drawbars that sustain at full level, with the amplitude
    # tremolo of a rotating speaker.
    limit = int(NYQUIST_FRACTION * SAMPLE_RATE / f0)
    bars = {h: a for h, a in ORGAN_DRAWBARS.items() if h <= limit}
    idx = _phase_index(f0, n)
    tremolo = 1.0 + 0.08 * _sine(LESLIE_HZ, n)
    low, high = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for out, sel in ((low, [h for h in bars if h <= 2]), (high, [h for h in bars if h > 2])):
        if sel:
            out += _table(np.array([bars[h] for h in sel]), np.array(sel, np.float64))[idx] * tremolo
    _attack(low, 0.008)
    _attack(high, 0.008)
    return low, high


# Detuned saws around the centre one, as (cents, starting phase in cycles).
# They carry only the upper harmonics: detuned fundamentals would beat the
# level up and down by 15 dB, detuned upper harmonics just shimmer.
PAD_CHORUS = ((-11.0, 0.37), (-4.0, 0.71), (5.0, 0.13), (12.0, 0.55))
PAD_CHORUS_LEVEL = 0.5
PAD_CHORUS_FROM = 3  # lowest harmonic the detuned saws carry
PAD_CUTOFF_HZ = 1800.0
PAD_SPLIT_HZ = 700.0


def _pad(f0: float, n: int) -> Body:
    # Saws through a gentle lowpass (baked into the tables), faded in slowly.
    k = _harmonics(f0)
    amps = np.exp(-k * f0 / PAD_CUTOFF_HZ) / k
    below = k * f0 < max(PAD_SPLIT_HZ, 1.5 * f0)
    idx = _phase_index(f0, n)
    low = _table(amps[below], k[below])[idx]
    high = _table(amps[~below], k[~below])[idx] if (~below).any() else np.zeros(n, np.float32)
    for cents, start_cycle in PAD_CHORUS:
        f = f0 * 2.0 ** (cents / 1200.0)
        k = _harmonics(f)[PAD_CHORUS_FROM - 1 :]
        if len(k):
            amps = PAD_CHORUS_LEVEL * np.exp(-k * f / PAD_CUTOFF_HZ) / k
            high += _table(amps, k)[_phase_index(f, n, start_cycle)]
    _attack(low, 0.45)
    _attack(high, 0.6)
    return low, high


BASS_CUTOFF_HZ = 1200.0
BASS_BODY_TAU_S = 0.25  # the body's fall from its attack to the sustain level
BASS_FILTER_TAU_S = 0.08  # how fast the upper harmonics close down


def _bass(f0: float, n: int) -> Body:
    # Saw plus square (odd harmonics boosted) through a lowpass; the upper
    # harmonics fall away fast like a closing filter envelope, the body
    # settles to a sustain so held bass notes keep their weight.
    k = _harmonics(f0)
    amps = np.where(k % 2 == 1, 1.6, 1.0) / k * np.exp(-k * f0 / BASS_CUTOFF_HZ)
    idx = _phase_index(f0, n)
    below = k <= 3
    low_wave = _table(amps[below], k[below])[idx]
    low = 0.55 * low_wave
    m = _audible(BASS_BODY_TAU_S, n)
    low[:m] += 0.45 * low_wave[:m] * _decay(BASS_BODY_TAU_S, m)
    high = np.zeros(n, np.float32)
    if (~below).any():
        m = _audible(BASS_FILTER_TAU_S, n)
        high[:m] += _table(amps[~below], k[~below])[idx[:m]] * _decay(BASS_FILTER_TAU_S, m)
    _attack(low, 0.004)
    _attack(high, 0.004)
    return low, high


BELL_RATIOS = (1.0, 2.76, 5.40, 8.93)  # modes of a free bar: inharmonic
BELL_LEVELS = (1.0, 0.55, 0.3, 0.15)
BELL_TAU_S = 2.8


def _bell(f0: float, n: int) -> Body:
    # Inharmonic partials, each a sine with its own decay (higher modes die
    # sooner); only the fundamental mode is "low".
    low, high = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for i, (ratio, level) in enumerate(zip(BELL_RATIOS, BELL_LEVELS, strict=True)):
        hz = ratio * f0
        if hz >= NYQUIST_FRACTION * SAMPLE_RATE:
            break
        tau = BELL_TAU_S * _pitch_scale(f0) / ratio**0.8
        m = _audible(tau, n)
        (low if i == 0 else high)[:m] += level * _sine(hz, m) * _decay(tau, m)
    _attack(low, 0.001)
    _attack(high, 0.001)
    return low, high


@dataclass(frozen=True)
class Voice:
    body: Callable[[float, int], Body]  # (f0 Hz, samples) -> (low, high)
    release_s: float  # fade after the note is let go
    tau_s: float | None  # decay at A3 of its longest-lived partial; None: it sustains
    level: float  # evens out loudness: every voice at one velocity sounds about as loud over its first second


VOICES: dict[str, Voice] = {
    "plucked": Voice(_plucked, 0.06, PLUCKED_TAU_S, 1.8),
    "keys": Voice(_keys, 0.15, KEYS_TAU_S, 1.15),
    "organ": Voice(_organ, 0.05, None, 0.65),
    "pad": Voice(_pad, 0.9, None, 1.0),
    "bass": Voice(_bass, 0.05, None, 0.95),
    "bell": Voice(_bell, 1.2, BELL_TAU_S, 1.0),
}


def voice(timbre: str) -> Voice:
    try:
        return VOICES[timbre]
    except KeyError:
        raise ValueError(f"unknown timbre {timbre!r}; known: {', '.join(VOICES)}") from None


def body_samples(timbre: str, pitch: int, held_samples: int) -> int:
    """Samples of body a note needs: held part plus release, cut where a
    decaying voice has died away (so long notes of a bell cost no more)."""
    v = voice(timbre)
    need = held_samples + int(v.release_s * SAMPLE_RATE)
    if v.tau_s is not None:
        ring_s = min(AUDIBLE_TAUS * v.tau_s * _pitch_scale(midi_to_hz(pitch)), MAX_RING_S)
        need = min(need, int(ring_s * SAMPLE_RATE))
    return max(need, 1)


def note_body(timbre: str, pitch: int, n_samples: int) -> Body:
    """The body of `timbre` at MIDI `pitch`, n_samples long, at the voice's level."""
    v = voice(timbre)
    low, high = v.body(midi_to_hz(pitch), n_samples)
    return low * np.float32(v.level), high * np.float32(v.level)
