"""Fidelity: a Fréchet distance between the frame statistics of two sets of
audio over a fixed, versioned librosa feature set (no learned embedding of
ours, so numbers stay comparable across runs). A codec round trip's
measures are the temporal level's (services/temporal/codec_fidelity.py)."""
from __future__ import annotations

import numpy as np
from scipy import linalg

from hiermusic.services.common.librosa_cache import librosa

# Change the name whenever a parameter below changes: distances computed over
# different feature sets must not be compared.
FEATURE_SET = "librosa-mfcc20-contrast7-chroma12-sr24k-hop480-v1"
_N_FFT = 2048
_HOP = 480  # 50 frames/s at 24 kHz
_EPS = 1e-6  # added to the covariance diagonals when their product is near-singular, as pytorch-fid does


def fidelity_features(audio: np.ndarray, sample_rate: int = 24000) -> np.ndarray:
    """[T, 39] float64: 20 MFCC, 7 spectral-contrast bands, 12 chroma per 20 ms frame."""
    y = audio.astype(np.float32)
    if sample_rate != 24000:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=24000)
    power = np.abs(librosa.stft(y, n_fft=_N_FFT, hop_length=_HOP)) ** 2  # [F, T]
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=24000, n_mels=128))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)  # [20, T]
    contrast = librosa.feature.spectral_contrast(S=np.sqrt(power), sr=24000)  # [7, T]
    chroma = librosa.feature.chroma_stft(S=power, sr=24000, tuning=0.0)  # [12, T]
    return np.concatenate([mfcc, contrast, chroma], axis=0).T.astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to [N, D] and [M, D] features:
    |mu_a - mu_b|^2 + tr(C_a + C_b - 2 sqrt(C_a C_b))."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():
        offset = np.eye(len(cov_a)) * _EPS
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    # Rounding leaves a tiny imaginary part on a real result.
    root = root.real
    diff = mu_a - mu_b
    return float(max(0.0, diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root)))
