"""Frame features for the semantic tokenizer (ARCHITECTURE.md §1): harmony
(chroma), timbre (MFCC), energy (RMS) and rhythm (onset strength), pooled to
the semantic rate of 12.5 frames/s."""
from __future__ import annotations

import numpy as np

from hiermusic.services.common.chunk_layout import semantic_frames
from hiermusic.services.common.librosa_cache import librosa

SEMANTIC_RATE = 12.5
HOP = 480  # analysis hop at 24 kHz: 50 frames/s, pooled 4:1 to the semantic rate
N_FFT = 2048
N_MFCC = 13
FEATURE_NAMES = (
    [f"chroma_{i}" for i in range(12)] + [f"mfcc_{i}" for i in range(N_MFCC)] + ["rms_db", "onset_mean", "onset_max"]
)
FEATURE_DIM = len(FEATURE_NAMES)


def frame_features(audio: np.ndarray, sample_rate: int = 24000) -> np.ndarray:
    """float32 [T, FEATURE_DIM] with T = ceil(duration * 12.5)."""
    if sample_rate != 24000:
        raise ValueError(f"features are defined at 24 kHz, got {sample_rate} Hz")
    frames = semantic_frames(len(audio) / sample_rate, SEMANTIC_RATE)
    pool = int(round(sample_rate / HOP / SEMANTIC_RATE))
    power = np.abs(librosa.stft(audio.astype(np.float32), n_fft=N_FFT, hop_length=HOP)) ** 2  # [F, n]
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sample_rate, n_mels=64))
    chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate, tuning=0.0)  # [12, n]; A=440, no estimate
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)  # [13, n]
    rms_db = librosa.power_to_db(librosa.feature.rms(S=np.sqrt(power), frame_length=N_FFT) ** 2)  # [1, n]
    onset = librosa.onset.onset_strength(S=mel_db, sr=sample_rate)[None]  # [1, n]
    per_hop = np.concatenate([chroma, mfcc, rms_db, onset], axis=0).T  # [n, 27]
    n = frames * pool
    if len(per_hop) < n:  # the last semantic frame may reach past the audio
        per_hop = np.concatenate([per_hop, np.repeat(per_hop[-1:], n - len(per_hop), axis=0)])
    pooled = per_hop[:n].reshape(frames, pool, -1)  # [T, pool, 27]
    onset_max = pooled[:, :, -1].max(axis=1, keepdims=True)
    return np.concatenate([pooled.mean(axis=1), onset_max], axis=1).astype(np.float32)
