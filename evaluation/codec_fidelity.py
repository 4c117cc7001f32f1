"""The codec's own fidelity: held-out corpus audio through encode and decode,
with all codebooks and with the coarse ones alone (what the acoustic level's
tokens carry before the temporal level adds detail)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hiermusic.evaluation.fidelity import mel_distance, si_snr

if TYPE_CHECKING:
    from hiermusic.services.temporal.codec import Codec


def codec_fidelity(songs: list[np.ndarray], plugin: str, checkpoint: Path | None, coarse_codebooks: int,
                   clip_s: float = 10.0, device: str = "cpu") -> dict:
    """SI-SNR (dB) and mel distance of a `clip_s` clip from the middle of each song."""
    from hiermusic.corpus.codec_tokens import load_codec

    codec = load_codec(plugin, checkpoint, device)
    return {
        "codec": {"plugin": plugin, "version": codec.version, "digest": codec.digest, "trained": codec.trained},
        **fidelity_of(codec, songs, coarse_codebooks, clip_s),
    }


def fidelity_of(codec: Codec, songs: list[np.ndarray], coarse_codebooks: int, clip_s: float = 10.0) -> dict:
    """codec_fidelity's measures for a codec already loaded (or being trained):
    {clips, clip_s, codebooks_K: {si_snr_db, mel_distance}} for all K and the coarse K."""
    from hiermusic.corpus.codec_tokens import encode_audio

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
