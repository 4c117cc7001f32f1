"""The two rule-breaks that live inside sections, read from the audio:

- modal interchange: the share of a section's chroma on the pitch classes
  the parallel mode has and the planned key's scale lacks (the borrowed
  chord's and the melody over it), against the piece's sections of other
  types, since the corpus borrows into every section of one type;
- rhythmic displacement: how far a section's onsets sit from where the beat
  grid puts them (off the beat, and on beats that are not downbeats),
  against the other sections of its own type, which share its motif and
  groove; the grid is the plan's tempo from 0 s, as sections start on bar
  lines.

`rule_break_separation` runs both on corpus songs that carry a rule-break
and songs that carry none, so what they tell apart is on record."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hiermusic.corpus.song_spec import BEATS_PER_BAR, BORROW_FROM, SCALES, SongSpec
from hiermusic.evaluation.section_measures import section_middle
from hiermusic.evaluation.tonality import HOP as CHROMA_HOP
from hiermusic.evaluation.tonality import N_FFT as CHROMA_N_FFT
from hiermusic.services.common.librosa_cache import librosa
from hiermusic.services.common.music import key_index

ONSET_HOP = 256  # ~11 ms at 24 kHz: fine enough to tell an eighth note from a beat at 180 bpm
ON_BEAT = 0.125  # an onset this many beats from a beat is on it

RULE_BREAK_MEASURES = ("modal_interchange", "displacement")
# The corpus generator's names for the rule-breaks the measures read.
CORPUS_NAMES = {"modal_interchange": "modal_interchange", "displacement": "rhythmic_displacement"}


def borrowed_pitch_classes(key: str, mode: str) -> list[int]:
    """Pitch classes of the parallel mode (the one the corpus borrows from)
    that the key's own scale lacks: e.g. Eb, Ab, Bb in C major."""
    tonic = key_index(key)
    own = {(tonic + i) % 12 for i in SCALES[mode]}
    return sorted({(tonic + i) % 12 for i in SCALES[BORROW_FROM[mode]]} - own)


def borrowed_share(audio: np.ndarray, sample_rate: int, sections: list[dict], key: str,
                   mode: str) -> list[float | None]:
    """Per section: the share of its chroma energy on the borrowed pitch classes."""
    power = np.abs(librosa.stft(audio.astype(np.float32), n_fft=CHROMA_N_FFT, hop_length=CHROMA_HOP)) ** 2
    chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate, n_fft=CHROMA_N_FFT, tuning=0.0)  # [12, n]
    borrowed = borrowed_pitch_classes(key, mode)
    shares = []
    for a, b in _frames(sections, sample_rate / CHROMA_HOP, chroma.shape[1]):
        total = chroma[:, a:b].sum(axis=1)
        shares.append(float(total[borrowed].sum() / total.sum()) if total.sum() > 0 else None)
    return shares


def displacement_index(audio: np.ndarray, sample_rate: int, sections: list[dict],
                       tempo_bpm: float) -> list[float | None]:
    """Per section, in 0..2: the share of onset strength off the beat, plus
    the share of the on-beat onset strength that is not on a downbeat (all
    of it when nothing falls on a beat). A melody pushed half a beat late
    raises the first, a whole beat late the second (its strong notes leave
    the downbeats). None for a section without onsets."""
    envelope = librosa.onset.onset_strength(y=audio.astype(np.float32), sr=sample_rate, hop_length=ONSET_HOP)
    beats = np.arange(len(envelope)) * ONSET_HOP / sample_rate * tempo_bpm / 60.0
    near_beat = np.abs(beats - np.round(beats)) <= ON_BEAT
    near_downbeat = near_beat & (np.round(beats) % BEATS_PER_BAR == 0)
    values = []
    for a, b in _frames(sections, sample_rate / ONSET_HOP, len(envelope)):
        e, on, down = envelope[a:b], near_beat[a:b], near_downbeat[a:b]
        if e.sum() <= 0:
            values.append(None)
            continue
        off_downbeat = 1.0 - e[down].sum() / e[on].sum() if e[on].sum() > 0 else 1.0
        values.append(float(e[~on].sum() / e.sum() + off_downbeat))
    return values


def _frames(sections: list[dict], rate: float, frames: int) -> list[tuple[int, int]]:
    spans = []
    for s in sections:
        start, end = section_middle(float(s["start_s"]), float(s["end_s"]))
        spans.append((min(int(start * rate), frames), min(int(end * rate), frames)))
    return spans


def contrast(values: list[float | None], types: list[str], flagged: set[int], measure: str) -> float | None:
    """Mean value of the flagged sections minus that of their reference:
    for modal interchange the unflagged sections of other types, for
    displacement the unflagged sections of the same types (all unflagged
    ones where there are none). None when either side has no value."""
    kinds = {types[i] for i in flagged}
    unflagged = [i for i in range(len(types)) if i not in flagged]
    if measure == "modal_interchange":
        reference = [i for i in unflagged if types[i] not in kinds]
    elif measure == "displacement":
        reference = [i for i in unflagged if types[i] in kinds] or unflagged
    else:
        raise ValueError(f"unknown rule-break measure {measure!r}; use one of {', '.join(RULE_BREAK_MEASURES)}")
    mine = [values[i] for i in flagged if values[i] is not None]
    ref = [values[i] for i in reference if values[i] is not None]
    return float(np.mean(mine) - np.mean(ref)) if mine and ref else None


def section_values(audio: np.ndarray, sample_rate: int, record: dict) -> dict[str, list[float | None]]:
    """Both measures for every section of a plan (song.plan.json or corpus labels as dicts)."""
    sections = record["sections"]
    values: dict[str, list[float | None]] = {}
    if record.get("key") and record.get("mode") in BORROW_FROM:
        values["modal_interchange"] = borrowed_share(audio, sample_rate, sections, record["key"], record["mode"])
    if record.get("tempo_bpm"):
        values["displacement"] = displacement_index(audio, sample_rate, sections, float(record["tempo_bpm"]))
    return values


def plan_contrasts(audio: np.ndarray, sample_rate: int, record: dict) -> dict[str, dict]:
    """For each rule-break the plan flags on some sections: those sections'
    score over their reference (> 0: the audio carries it there)."""
    sections = record["sections"]
    types = [s["type"] for s in sections]
    values = section_values(audio, sample_rate, record)
    out = {}
    for measure in RULE_BREAK_MEASURES:
        flagged = {i for i, s in enumerate(sections) if s.get(measure, False)}
        if flagged and measure in values:
            score = contrast(values[measure], types, flagged, measure)
            out[measure] = {"sections": sorted(flagged), "contrast": None if score is None else round(score, 4),
                            "higher": None if score is None else score > 0,
                            "values": [None if v is None else round(v, 4) for v in values[measure]]}
    return out


# ---- on corpus songs whose rule-breaks are known ------------------------------------

def corpus_flags(spec: SongSpec) -> dict[str, set[int]]:
    """Sections of a composed song that carry each rule-break: every section
    of the type a chord was borrowed into; the one displaced section."""
    borrowed = {t for t, m in spec.material.items() if any(c.scale != spec.mode for c in m.progression)}
    return {
        "modal_interchange": {i for i, s in enumerate(spec.sections) if s.type in borrowed},
        "displacement": {i for i, s in enumerate(spec.sections) if s.displacement},
    }


def _units(measure: str, types: list[str]) -> list[set[int]]:
    """What may carry the rule-break in a composed song: a section type for
    modal interchange (all its sections), one section for displacement."""
    if measure == "modal_interchange":
        return [{i for i, t in enumerate(types) if t == kind} for kind in dict.fromkeys(types)]
    return [{i} for i in range(len(types))]


@dataclass
class Separation:
    measure: str
    labelled_songs: list[int]  # seeds
    unlabelled_songs: list[int]
    labelled_units: int  # section types (modal interchange) or sections (displacement) carrying it
    unlabelled_units: int
    auc: float | None  # P(a labelled unit scores above an unlabelled one), ties half
    mean_labelled: float | None
    mean_unlabelled: float | None
    song_auc: float | None  # each song by its highest-scoring unit: labelled songs vs songs without
    labelled_highest: float | None  # share of labelled songs whose labelled unit scores highest of the song


def rule_break_separation(songs: int = 8, first_seed: int = 0, log: Callable[[str], None] = print) -> list[Separation]:
    """Per measure: `songs` composed songs carrying the rule-break and `songs`
    carrying no rule-break at all (the first such seeds from `first_seed`),
    each unit scored by `contrast` as if it alone were flagged."""
    from hiermusic.corpus.song_spec import compose_spec

    picked: dict[str, list[int]] = {m: [] for m in (*RULE_BREAK_MEASURES, "none")}
    seed = first_seed
    while any(len(seeds) < songs for seeds in picked.values()):
        breaks = compose_spec(seed).rule_breaks
        for measure in RULE_BREAK_MEASURES:
            if CORPUS_NAMES[measure] in breaks and len(picked[measure]) < songs:
                picked[measure].append(seed)
                break
        else:
            if not breaks and len(picked["none"]) < songs:
                picked["none"].append(seed)
        seed += 1
    measured = {seed: _measure_song(seed) for seed in dict.fromkeys(sum(picked.values(), []))}
    results = []
    for measure in RULE_BREAK_MEASURES:
        positive, negative, song_scores, highest = [], [], {True: [], False: []}, []
        for seed in picked[measure] + picked["none"]:
            values, types, flags = measured[seed]
            truth = flags[measure]
            scored = [(unit, contrast(values[measure], types, unit, measure)) for unit in _units(measure, types)]
            scored = [(unit, score) for unit, score in scored if score is not None]
            for unit, score in scored:
                (positive if unit & truth else negative).append(score)
            if scored:
                song_scores[bool(truth)].append(max(score for _, score in scored))
                if truth:
                    highest.append(bool(max(scored, key=lambda u: u[1])[0] & truth))
        results.append(Separation(
            measure, picked[measure], picked["none"], len(positive), len(negative), _auc(positive, negative),
            _mean(positive), _mean(negative), _auc(song_scores[True], song_scores[False]),
            round(float(np.mean(highest)), 3) if highest else None,
        ))
        log(f"{measure}: AUC {results[-1].auc} over {len(positive)} labelled and {len(negative)} unlabelled units")
    return results


def _measure_song(seed: int) -> tuple[dict[str, list[float | None]], list[str], dict[str, set[int]]]:
    """A composed song rendered and measured: values per measure, section types, true flags."""
    from hiermusic.corpus.arranger import arrange
    from hiermusic.corpus.performance import SAMPLE_RATE
    from hiermusic.corpus.song_spec import compose_spec
    from hiermusic.corpus.synth import render

    spec = compose_spec(seed)
    performance, labels = arrange(spec)
    sections = [{"type": s.type, "start_s": s.start_s, "end_s": s.end_s} for s in labels.sections]
    record = {"sections": sections, "key": labels.key, "mode": labels.mode, "tempo_bpm": labels.tempo_bpm}
    values = section_values(render(performance, seed), SAMPLE_RATE, record)
    return values, [s["type"] for s in sections], corpus_flags(spec)


def _auc(positive: list[float], negative: list[float]) -> float | None:
    if not positive or not negative:
        return None
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return round(float((p > n).mean() + 0.5 * (p == n).mean()), 3)


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None
