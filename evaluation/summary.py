"""Per-piece measures folded into the figures a report leads with: how often
the audio gives what the prompt asked for and what the plan promised, how
its structure compares with the corpus's own songs, and how its joins sound."""
from __future__ import annotations

import numpy as np


def summarize_pieces(pieces: list[dict], reference_gap: float | None,
                     reference_tempo: list[bool] | None = None, reference_judge: list[dict] | None = None) -> dict:
    """`pieces`: each with "measures" from analyze_piece; `reference_tempo`:
    for each held-out corpus song, whether the tempo measure found its
    labelled tempo (the measure's own accuracy); `reference_judge`: for each,
    piece_analysis.judge_measures over the pieces' length."""
    m = [p["measures"] for p in pieces]
    return {
        "pieces": len(m),
        "silent": sum(x["silent"] for x in m),
        "prompt_adherence": _prompt_adherence(m, reference_tempo or []),
        "plan_adherence": {
            "tempo_within": _share([x["tempo"]["vs_plan"]["within"] for x in m if x["tempo"]["vs_plan"]]),
            "tempo_within_octave": _share(
                [x["tempo"]["vs_plan"]["within_octave"] for x in m if x["tempo"]["vs_plan"]]),
            "mode": _share([x["key"]["mode_matches_plan"] for x in m if x["key"]["mode_matches_plan"] is not None]),
        },
        "structure": _structure(m, reference_gap),
        "continuity": _continuity(m),
        "judge": summarize_judge(m, reference_judge or []),
    }


def _prompt_adherence(m: list[dict], reference_tempo: list[bool]) -> dict:
    tempo = [x["tempo"]["vs_prompt"] for x in m if x["tempo"]["vs_prompt"]]
    drums_on = [x["drums"]["present"] for x in m if x["drums"]["asked"] is True]
    drums_off = [x["drums"]["present"] for x in m if x["drums"]["asked"] is False]
    return {
        "tempo": {
            "asked": len(tempo),
            "within": _share([t["within"] for t in tempo]),
            "octave_errors": sum(t["octave"] in ("double", "half") for t in tempo),
            "no_tempo_found": sum(t["octave"] == "none" for t in tempo),
            "median_relative_error": _median([t["relative"] for t in tempo if t["relative"] is not None]),
            "reference_songs": len(reference_tempo),
            "reference_within": _share(reference_tempo),
        },
        "mode": _asked(m, "mode_matches_prompt"),
        "key": _asked(m, "key_matches_prompt"),
        "drums_when_asked": {"asked": len(drums_on), "present": _share([d is True for d in drums_on])},
        "no_drums_when_asked": {"asked": len(drums_off), "absent": _share([d is False for d in drums_off])},
    }


def _asked(m: list[dict], field: str) -> dict:
    hits = [x["key"][field] for x in m if x["key"][field] is not None]
    return {"asked": len(hits), "right": _share(hits)}


def _structure(m: list[dict], reference_gap: float | None) -> dict:
    gaps = [x["structure"]["sections"]["gap"] for x in m if x["structure"]["sections"]["gap"] is not None]
    gap = _mean(gaps)
    return {
        "present": _share([x["structure"]["present"] is True for x in m]),
        "pieces_with_repeats": len(gaps),
        "repeat_gap_mean": gap,
        "reference_repeat_gap_mean": reference_gap,
        # Issue 6 asks for at least half the corpus's own gap.
        "gap_vs_reference": _ratio(gap, reference_gap),
        "energy_agreement_mean": _mean([x["structure"]["energy_agreement"] for x in m
                                        if x["structure"]["energy_agreement"] is not None]),
    }


def summarize_judge(m: list[dict], reference: list[dict]) -> dict:
    """Issue 28's figures by the independent judge, pieces beside the
    held-out corpus songs (`reference`: judge_measures records), each with
    the bar the issue sets. The eval's own figures for the same questions
    are prompt_adherence's "mode", "drums_when_asked" and
    "no_drums_when_asked" (issue 28: drums right for >= 95% of each group)."""
    judged = [x["judge"] for x in m]
    gaps = [j["aligned_gap"]["gap"] for j in judged if j["aligned_gap"]]
    reference_gaps = [j["aligned_gap"]["gap"] for j in reference if j["aligned_gap"]]
    gap, reference_gap = _mean(gaps), _mean(reference_gaps)
    peaks = [r["peak"] for j in judged for r in j["returns"] if r["peak"] is not None]
    with_drums = [j["percussive_share"] for j in judged if j["drums_asked"] is True]
    without = [j["percussive_share"] for j in judged if j["drums_asked"] is False]
    share_with, share_without = _median(with_drums, 6), _median(without, 6)
    return {
        "aligned_gap": {
            "pieces_with_returns": len(gaps),
            "median": _median(gaps),
            "mean": gap,
            "reference_songs_with_returns": len(reference_gaps),
            "reference_median": _median(reference_gaps),
            "reference_mean": reference_gap,
            # Issue 28's bar: at least 0.8 of the corpus's.
            "vs_reference": _ratio(gap, reference_gap),
        },
        "returns": {  # issue 28's bar: no copies
            "pieces_with_returns": sum(bool(j["returns"]) for j in judged),
            "returns": sum(len(j["returns"]) for j in judged),
            "copies": sum(j["copies"] for j in judged),
            "pieces_with_copies": sum(j["copies"] > 0 for j in judged),
            "peak_correlation_max": round(max(peaks), 6) if peaks else None,
            "reference_returns": sum(len(j["returns"]) for j in reference),
            "reference_copies": sum(j["copies"] for j in reference),
        },
        "drums": {
            "asked": len(with_drums),
            "asked_none": len(without),
            "percussive_share_median": share_with,
            "percussive_share_median_none": share_without,
            "ratio": _ratio(share_with, share_without),  # issue 28's bar: at least 3x
            "reference_percussive_share_median": _median(
                [j["percussive_share"] for j in reference if j["drums_asked"] is True], 6),
            "reference_percussive_share_median_none": _median(
                [j["percussive_share"] for j in reference if j["drums_asked"] is False], 6),
        },
        "mode": {  # issue 28's bar: right for >= 90% of the prompts that state one
            "asked": sum(j["mode_asked"] is not None for j in judged),
            "right": _share([j["mode_matches"] for j in judged if j["mode_matches"] is not None]),
            "reference_songs": sum(j["mode_asked"] is not None for j in reference),
            "reference_right": _share([j["mode_matches"] for j in reference if j["mode_matches"] is not None]),
        },
    }


def _continuity(m: list[dict]) -> dict:
    ratios = [x["continuity"]["ratio"] for x in m if x["continuity"]["ratio"] is not None]
    return {
        "joins": sum(x["continuity"]["joins"] for x in m),
        "flux_ratio_mean": _mean(ratios),
        "flux_ratio_max": round(max(ratios), 3) if ratios else None,
        "clicks_at_joins": sum(x["continuity"]["clicks_at_joins"] for x in m),
        "clicks_elsewhere": sum(x["continuity"]["clicks_elsewhere"] for x in m),
    }


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 3) if flags else None


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def _median(values: list[float], digits: int = 4) -> float | None:
    return round(float(np.median(values)), digits) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None
