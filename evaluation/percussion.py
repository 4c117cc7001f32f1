"""Whether a clip has a drum kit: librosa's harmonic-percussive separation,
then percussive energy in the band where cymbals, hats and snare wires live
and pitched instruments hardly reach, counted only if it comes in onsets
that stand out from the percussive floor (white noise is not a drum kit)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hiermusic.evaluation.loudness import is_silent
from hiermusic.services.common.librosa_cache import librosa

N_FFT = 1024
HOP = 512
KERNEL = 17  # median filter, frames x bins: ~0.36 s by ~400 Hz, half the cost of librosa's default 31
DRUM_BAND_HZ = 7000.0
# Percussive energy above DRUM_BAND_HZ as a share of all energy. Measured on
# the first 40 s of 124 corpus songs: with drums >= 2.4e-4, without <= 4.4e-5.
# White noise 0.22 and the click track 0.41 pass it: STAND_OUT stops noise.
MIN_DRUM_BAND_SHARE = 1e-4
STAND_OUT = 4.0  # an onset counts when its strength is this many times the envelope's median
# Standing-out onsets per second. Measured: songs with drums >= 0.98/s,
# white noise 0 (its onset peaks stay within ~2x the median), click track 1.97/s.
MIN_ONSET_RATE = 0.5


@dataclass
class DrumEstimate:
    present: bool | None  # None: silent, nothing to judge
    percussive_share: float  # percussive / total energy after HPSS, all bands
    onset_rate: float  # percussive onsets per second that stand out from the floor
    reason: str = ""  # why present is not True


def separated_power(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Harmonic and percussive power [F, n] (STFT frames of HOP samples) and
    the bins of the drum band (bool [F])."""
    magnitude = np.abs(librosa.stft(audio.astype(np.float32), n_fft=N_FFT, hop_length=HOP))  # [F, n]
    harmonic, percussive = librosa.decompose.hpss(magnitude, kernel_size=KERNEL)
    band = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT) >= DRUM_BAND_HZ
    return harmonic**2, percussive**2, band


def detect_drums(audio: np.ndarray, sample_rate: int = 24000) -> DrumEstimate:
    if is_silent(audio):
        return DrumEstimate(None, 0.0, 0.0, "silent")
    harmonic_power, percussive_power, band = separated_power(audio, sample_rate)
    total = float(harmonic_power.sum() + percussive_power.sum())
    band_share = float(percussive_power[band].sum()) / total
    envelope = librosa.onset.onset_strength(S=librosa.power_to_db(percussive_power[band]), sr=sample_rate,
                                            hop_length=HOP)
    onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=sample_rate, hop_length=HOP)
    standing_out = int(np.sum(envelope[onsets] >= STAND_OUT * np.median(envelope)))
    share = float(percussive_power.sum()) / total
    rate = standing_out * sample_rate / len(audio)
    if band_share < MIN_DRUM_BAND_SHARE:
        return DrumEstimate(False, share, rate, f"little percussive energy above {DRUM_BAND_HZ:.0f} Hz")
    if rate < MIN_ONSET_RATE:
        return DrumEstimate(False, share, rate, "no percussive onsets stand out from the floor")
    return DrumEstimate(True, share, rate)
