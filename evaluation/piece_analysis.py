"""Every per-piece measure of one generated piece, judged against what the
prompt asked for and what the plan promised (song.plan.json)."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from hiermusic.evaluation.continuity import find_clicks, join_continuity
from hiermusic.evaluation.form_check import RETURNS_MIN_S, description_checks, form_checks, returns
from hiermusic.evaluation.independent_judge import aligned_section_gap, judge_key, percussive_share, return_copies
from hiermusic.evaluation.loudness import is_silent, rms_dbfs
from hiermusic.evaluation.percussion import detect_drums
from hiermusic.evaluation.prompt_set import AskedAttributes, AskedForm
from hiermusic.evaluation.rule_breaks import plan_contrasts
from hiermusic.evaluation.section_measures import drums_in_vs_out, ending_level, loud_vs_quiet, section_levels
from hiermusic.evaluation.structure import (
    energy_agreement,
    section_similarity,
    similarity_features,
    structure_strength,
)
from hiermusic.evaluation.tempo import estimate_tempo, tempo_error
from hiermusic.evaluation.tonality import estimate_key, mode_quality
from hiermusic.services.common.music import key_index

# Issue 6's bar for a named tempo; octave errors are reported apart.
TEMPO_TOLERANCE = 0.05


def reference_tempo_within(audio: np.ndarray, tempo_bpm: float, sample_rate: int = 24000) -> bool:
    """Whether the tempo measure finds a song's known tempo, as a piece's is judged."""
    return tempo_error(estimate_tempo(audio, sample_rate).bpm, tempo_bpm, TEMPO_TOLERANCE).within


def analyze_piece(audio: np.ndarray, sample_rate: int, record: dict, asked: AskedAttributes) -> dict:
    """JSON-ready measures of one piece. `record` is its song.plan.json."""
    sections = record["sections"]
    tempo = estimate_tempo(audio, sample_rate)
    key = estimate_key(audio, sample_rate)
    drums = detect_drums(audio, sample_rate)
    clicks = find_clicks(audio, sample_rate)
    features = similarity_features(audio, sample_rate)
    boundaries = [s["start_s"] for s in sections[1:]]
    joins = [(j["start_s"], j["end_s"]) for j in record.get("joins", [])]
    planned_mode = mode_quality(record["mode"]) if record.get("mode") else None
    return {
        "duration_s": round(len(audio) / sample_rate, 3),
        "loudness_dbfs": round(rms_dbfs(audio), 2),
        "silent": is_silent(audio),
        "tempo": {
            **_rounded(asdict(tempo)),
            "planned_bpm": record.get("tempo_bpm"),
            "asked_bpm": asked.tempo_bpm,
            "vs_plan": _tempo_vs(tempo.bpm, record.get("tempo_bpm")),
            "vs_prompt": _tempo_vs(tempo.bpm, asked.tempo_bpm),
        },
        "key": {
            **_rounded(asdict(key)),
            "planned": f"{record.get('key')} {planned_mode}" if planned_mode else None,
            "asked_mode": asked.mode,
            "asked_key": asked.key,
            "mode_matches_plan": _match(key.mode, planned_mode),
            "mode_matches_prompt": _match(key.mode, asked.mode),
            "key_matches_prompt": _match(_pitch_class(key.key), _pitch_class(asked.key)),
        },
        "drums": {
            **_rounded(asdict(drums)),
            "asked": asked.drums,
            "matches_prompt": _match(drums.present, asked.drums),
        },
        "structure": {
            **_rounded(asdict(structure_strength(audio, sample_rate, features))),
            "sections": _rounded(asdict(section_similarity(audio, sections, sample_rate, features))),
            "energy_agreement": _round(energy_agreement(audio, sections, sample_rate)),
        },
        "continuity": {
            **_rounded(asdict(join_continuity(audio, joins, sample_rate, exclude=boundaries, clicks=clicks))),
            "joins": len(joins),
            "click_times_s": [round(t, 3) for t in clicks],
        },
        "judge": judge_measures(audio, sample_rate, sections, asked.drums, asked.mode),
    }


def judge_measures(audio: np.ndarray, sample_rate: int, sections: list[dict], drums: bool | None,
                   mode: str | None) -> dict:
    """The independent judge's figures of one clip (issue 28), for a piece
    (what its prompt asked) and a corpus song alike (what its labels say):
    `drums` True/False/None (not said), `mode` "major"/"minor"/None."""
    gap = aligned_section_gap(audio, sample_rate, sections)
    copies = return_copies(audio, sample_rate, sections)
    key = judge_key(audio, sample_rate)
    return {
        "aligned_gap": _rounded(asdict(gap)) if gap else None,
        "returns": [{**_rounded(asdict(r)), "peak": _round(r.peak, 6)} for r in copies],
        "copies": sum(r.copy for r in copies),
        "percussive_share": _round(percussive_share(audio), 6),
        "drums_asked": drums,
        "key": _rounded(asdict(key)),
        "mode_asked": mode,
        "mode_matches": _match(key.mode, mode),
    }


def analyze_form(audio: np.ndarray, sample_rate: int, record: dict, asked: AskedForm) -> dict:
    """The form the prompt asked for against the plan (form_check) and the
    audio over the plan's sections (section_measures, rule_breaks)."""
    sections = record["sections"]
    checks = form_checks(asked, sections)
    out: dict = {
        "plan": [s["type"] for s in sections],
        "checks": [asdict(c) for c in checks],
        "honoured": all(c.passed for c in checks) if asked.structural else None,
        "descriptions": [asdict(c) for c in description_checks(asked, sections)],
    }
    if asked.open_form:
        long = record.get("requested_duration_s") or len(audio) / sample_rate
        out["returns"] = {**asdict(returns(sections)), "counted": long >= RETURNS_MIN_S}
    if asked.extended_intro:
        out["extended_intro"] = next(asdict(c) for c in checks if c.name == "extended_intro")
    if asked.abrupt_ending:
        level = ending_level(audio, sample_rate)
        no_outro = next(c for c in checks if c.name == "abrupt_ending")
        out["abrupt_ending"] = {"passed": no_outro.passed and level.passed, "ending_db": _round(level.value),
                                "reason": f"{no_outro.reason}; {level.reason}"}
    if asked.loud or asked.drums_in:
        levels = section_levels(audio, sample_rate, sections)
        out["sections"] = [_rounded(asdict(x)) for x in levels]
        if asked.loud:
            out["loud_vs_quiet"] = _rounded(asdict(loud_vs_quiet(levels, asked.loud, asked.quiet)))
        if asked.drums_in:
            out["drums_in_vs_out"] = _rounded(asdict(drums_in_vs_out(levels, asked.drums_in, asked.drums_out)))
    if asked.modal_interchange or asked.displacement:
        out["rule_breaks"] = plan_contrasts(audio, sample_rate, record)
    return out


def _tempo_vs(estimate: float | None, target: float | None) -> dict | None:
    if not target:
        return None
    return _rounded(asdict(tempo_error(estimate, target, TEMPO_TOLERANCE)))


def _match(found: object, asked: object) -> bool | None:
    """None when nothing was asked; a measure that found nothing is a miss."""
    return None if asked is None else found == asked


def _pitch_class(name: str | None) -> int | None:
    return None if name is None else key_index(name)  # "A#" and "Bb" are one key


def _round(value: object, digits: int = 4) -> object:
    return round(value, digits) if isinstance(value, float) else value


def _rounded(values: dict) -> dict:
    return {k: _round(v) for k, v in values.items()}
