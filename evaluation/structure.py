"""Song structure read from the audio: a self-similarity matrix of frame
features, how much more alike repeated sections are than different ones,
whether there is block structure at all, and whether loudness follows the
planned energy of each section."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from hiermusic.corpus.semantic_features import SEMANTIC_RATE, frame_features
from hiermusic.evaluation.loudness import is_silent, rms_dbfs
from hiermusic.services.common.librosa_cache import librosa

# Chroma (harmony) and MFCC (timbre) columns of corpus.semantic_features; RMS
# and onset strength are left out so that a louder copy of a section still
# counts as the same material.
_SIMILARITY_COLUMNS = slice(0, 25)
# Block size for structure_strength: 4 s hears sections, not beats or bars.
_BLOCK_S = 4.0
# Measured when written: corpus songs 0.044..0.24 (60 songs, median 0.082),
# 30 s and 150 s of white noise 0.0065 and 0.0056, a 120 bpm click track
# 0.000 (every 4 s block holds the same 8 clicks). 0.02 sits near the
# geometric middle of the gap between noise and the least structured song.
_STRUCTURE_THRESHOLD = 0.02


def similarity_features(audio: np.ndarray, sample_rate: int = 24000) -> np.ndarray:
    """[T, 25] chroma+MFCC at 12.5 frames/s, each column z-scored over the
    piece: what the measures below compare (compute once, pass to each)."""
    if sample_rate != 24000:  # the semantic features are defined at 24 kHz
        audio = librosa.resample(audio.astype(np.float32), orig_sr=sample_rate, target_sr=24000)
    features = frame_features(audio)[:, _SIMILARITY_COLUMNS]
    return (features - features.mean(0)) / (features.std(0) + 1e-6)


def _unit_frames(z: np.ndarray) -> np.ndarray:
    return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)


def self_similarity(audio: np.ndarray, sample_rate: int = 24000) -> tuple[np.ndarray, np.ndarray]:
    """(frame_times_s [T], ssm [T, T]): cosine similarity of z-scored
    chroma+MFCC frames at 12.5 frames/s, in [-1, 1]."""
    unit = _unit_frames(similarity_features(audio, sample_rate))
    return np.arange(len(unit)) / SEMANTIC_RATE, unit @ unit.T


@dataclass
class SectionSimilarity:
    repeated: float | None  # mean cosine between a section and the earlier section it repeats
    different: float | None  # mean cosine between sections of different types
    gap: float | None  # repeated - different
    repeated_pairs: int
    different_pairs: int


def _frame_span(section: dict, frames: int) -> tuple[int, int]:
    start = int(round(section["start_s"] * SEMANTIC_RATE))
    end = int(round(section["end_s"] * SEMANTIC_RATE))
    return min(start, frames), min(end, frames)


def repeat_pairs(sections: list[dict]) -> list[tuple[int, int]]:
    """(i, earlier) pairs. repeat_of is the plan's own word (a served plan
    marks new material with the section's own index, corpus labels with -1);
    a plan that sets it nowhere falls back to pairing each section with the
    previous section of the same type, which is what a repeat means in a
    verse/chorus form."""
    if any(s.get("repeat_of", -1) >= 0 for s in sections):
        return [(i, s["repeat_of"]) for i, s in enumerate(sections) if 0 <= s.get("repeat_of", -1) < i]
    pairs, last_of_type = [], {}
    for i, s in enumerate(sections):
        if s["type"] in last_of_type:
            pairs.append((i, last_of_type[s["type"]]))
        last_of_type[s["type"]] = i
    return pairs


def section_similarity(audio: np.ndarray, sections: list[dict], sample_rate: int = 24000,
                       features: np.ndarray | None = None) -> SectionSimilarity:
    """Cosine between section means of the z-scored chroma+MFCC frames (the
    vectors behind self_similarity, averaged over each section). Means rather
    than frame-by-frame SSM blocks: a repeat with a varied melody or a fill
    is still the same section, and a mean hears that where aligned frames do
    not. Sections shorter than one frame are skipped."""
    z = similarity_features(audio, sample_rate) if features is None else features
    means: dict[int, np.ndarray] = {}
    for i, section in enumerate(sections):
        start, end = _frame_span(section, len(z))
        if end > start:
            m = z[start:end].mean(0)
            means[i] = m / (np.linalg.norm(m) + 1e-9)
    repeated = [float(means[i] @ means[j]) for i, j in repeat_pairs(sections) if i in means and j in means]
    different = [
        float(means[i] @ means[j])
        for i in means
        for j in means
        if i < j and sections[i]["type"] != sections[j]["type"]
    ]
    rep = float(np.mean(repeated)) if repeated else None
    diff = float(np.mean(different)) if different else None
    gap = rep - diff if rep is not None and diff is not None else None
    return SectionSimilarity(rep, diff, gap, len(repeated), len(different))


@dataclass
class StructureStrength:
    present: bool | None  # None for silence: nothing to judge
    strength: float  # std of the off-diagonal 4 s block means of the SSM
    reason: str = ""


def structure_strength(audio: np.ndarray, sample_rate: int = 24000,
                       features: np.ndarray | None = None) -> StructureStrength:
    """Block contrast of the self-similarity matrix: average the SSM over
    4 s x 4 s blocks and take the spread of the blocks off the diagonal.
    Sections make some blocks alike and others unlike (a large spread);
    stationary noise or a metronome makes every block the same (near 0)."""
    if is_silent(audio):
        return StructureStrength(None, 0.0, "silent")
    unit = _unit_frames(similarity_features(audio, sample_rate) if features is None else features)
    block = int(_BLOCK_S * SEMANTIC_RATE)
    n = len(unit) // block
    if n < 3:
        return StructureStrength(None, 0.0, f"too short: {n} blocks of {_BLOCK_S:g} s, need 3")
    # The mean of an SSM block is the dot product of the blocks' mean unit frames.
    centroids = unit[: n * block].reshape(n, block, -1).mean(axis=1)
    blocks = centroids @ centroids.T
    strength = float(blocks[~np.eye(n, dtype=bool)].std())
    if strength >= _STRUCTURE_THRESHOLD:
        return StructureStrength(True, strength, f"block contrast {strength:.3f} >= {_STRUCTURE_THRESHOLD}")
    return StructureStrength(False, strength, f"no structure: block contrast {strength:.3f} < {_STRUCTURE_THRESHOLD}")


def energy_agreement(audio: np.ndarray, sections: list[dict], sample_rate: int = 24000) -> float | None:
    """Spearman rank correlation between each section's loudness (RMS dBFS)
    and its planned energy. Ranks, because the plan's 0..1 scale has no
    fixed mapping to decibels. None with fewer than 3 sections, silent
    audio, or a constant plan or loudness (no ranking to agree with)."""
    if len(sections) < 3 or is_silent(audio):
        return None
    loudness, planned = [], []
    for s in sections:
        segment = audio[int(s["start_s"] * sample_rate) : int(s["end_s"] * sample_rate)]
        if len(segment):
            loudness.append(rms_dbfs(segment))
            planned.append(s["energy"])
    if len(loudness) < 3 or len(set(planned)) < 2 or len(set(loudness)) < 2:
        return None
    return float(spearmanr(loudness, planned).statistic)
