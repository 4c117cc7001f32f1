"""A codec's fidelity: held-out audio through encode and decode, with all
codebooks and with the coarse ones alone (what the acoustic level's tokens
carry before the temporal level adds detail), by SI-SNR and log-mel
distance. The codec trainer validates with it; the evaluation reports it."""
from __future__ import annotations

import numpy as np
import torch

from hiermusic.corpus.codec_tokens import encode_audio
from hiermusic.services.common.librosa_cache import librosa
from hiermusic.services.temporal.codec import Codec

# mel_distance: 1024-point FFT, 256 hop, 80 mels, log10 of power floored at
# 1e-5 (the HiFi-GAN / EnCodec style of log-mel loss).
MEL_N_FFT = 1024
MEL_HOP = 256
MEL_BANDS = 80
MEL_FLOOR = 1e-5


def si_snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SNR in dB of `estimate` against `reference` (same
    length), both made zero-mean first."""
    if reference.shape != estimate.shape:
        raise ValueError(f"si_snr needs equal shapes, got {reference.shape} and {estimate.shape}")
    ref = reference.astype(np.float64) - reference.mean()
    est = estimate.astype(np.float64) - estimate.mean()
    target = (est @ ref) / (ref @ ref + 1e-12) * ref
    noise = est - target
    return float(10.0 * np.log10((target @ target + 1e-12) / (noise @ noise + 1e-12)))


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = 24000) -> float:
    """Mean absolute difference of log10 mel power spectrograms (1024-point
    FFT, 256 hop, 80 mels, floor 1e-5) of two signals of the same length."""
    if reference.shape != estimate.shape:
        raise ValueError(f"mel_distance needs equal shapes, got {reference.shape} and {estimate.shape}")

    def log_mel(y: np.ndarray) -> np.ndarray:
        mel = librosa.feature.melspectrogram(y=y.astype(np.float32), sr=sample_rate, n_fft=MEL_N_FFT,
                                             hop_length=MEL_HOP, n_mels=MEL_BANDS)
        return np.log10(np.maximum(mel, MEL_FLOOR))

    return float(np.abs(log_mel(reference) - log_mel(estimate)).mean())


def fidelity_of(codec: Codec, songs: list[np.ndarray], coarse_codebooks: int, clip_s: float = 10.0) -> dict:
    """SI-SNR (dB) and mel distance of a `clip_s` clip from the middle of
    each song, through `codec` as the temporal level runs it: {clips, clip_s,
    codebooks_K: {si_snr_db, mel_distance}} for all K and the coarse K."""
    clip = int(clip_s * codec.sample_rate) // codec.hop_length * codec.hop_length
    scores: dict[int, dict[str, list[float]]] = {k: {"si_snr_db": [], "mel_distance": []}
                                                 for k in (codec.codebooks, coarse_codebooks)}
    for audio in songs:
        start = max(0, (len(audio) - clip) // 2) // codec.hop_length * codec.hop_length
        ref = audio[start : start + clip]
        codes = torch.from_numpy(encode_audio(codec, ref).astype(np.int64))[None]  # [1, K, T]
        for k, s in scores.items():
            with torch.inference_mode():
                out = codec.decode(codes[:, :k])[0, 0, : len(ref)].cpu().numpy()
            s["si_snr_db"].append(si_snr(ref, out))
            s["mel_distance"].append(mel_distance(ref, out, codec.sample_rate))
    return {
        "clips": len(songs),
        "clip_s": clip / codec.sample_rate,
        **{f"codebooks_{k}": {name: round(float(np.mean(v)), 3) for name, v in s.items()} for k, s in scores.items()},
    }
