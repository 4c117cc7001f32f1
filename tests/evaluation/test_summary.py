"""Issue 28's figures by the independent judge, folded from piece records
(as piece_analysis.judge_measures writes them) beside the held-out corpus
songs': the aligned gap and its ratio, copies, percussive shares with and
without drums and their ratio, the mode rate."""
from __future__ import annotations

from hiermusic.evaluation.summary import summarize_judge


def _judged(gap: float | None = None, peaks: tuple[float, ...] = (), drums: bool | None = None, share: float = 0.0,
            mode: str | None = None, heard: str | None = None) -> dict:
    """One clip's judge record."""
    return {
        "aligned_gap": None if gap is None else {"returning": 0.9, "different": 0.9 - gap, "gap": gap,
                                                 "returning_pairs": 1, "different_pairs": 2},
        "returns": [{"section": 2 + n, "returns_to": n, "peak": p, "lag_s": 0.0, "copy": p >= 0.9999}
                    for n, p in enumerate(peaks)],
        "copies": sum(p >= 0.9999 for p in peaks),
        "percussive_share": share,
        "drums_asked": drums,
        "key": {"key": "C" if heard else None, "mode": heard, "fit": 0.8},
        "mode_asked": mode,
        "mode_matches": None if mode is None else heard == mode,
    }


PIECES = [
    _judged(gap=0.10, peaks=(0.97, 1.0), drums=True, share=0.09, mode="major", heard="major"),
    _judged(gap=0.20, peaks=(0.95,), drums=True, share=0.07, mode="minor", heard="major"),
    _judged(gap=0.06, peaks=(0.90,), drums=False, share=0.02, mode="minor", heard="minor"),
    _judged(drums=False, share=0.04, mode="major", heard=None),  # no return; no key heard is a miss
    _judged(share=0.5),  # drums and mode left open: in no group
]
REFERENCE = [
    _judged(gap=0.20, peaks=(0.996, 0.99), drums=True, share=0.05, mode="major", heard="major"),
    _judged(gap=0.30, peaks=(0.99999,), drums=False, share=0.005, mode=None, heard="minor"),
    _judged(drums=False, share=0.007, mode="minor", heard="major"),
]


def test_the_judge_s_figures_are_folded_from_the_records():
    s = summarize_judge([{"judge": j} for j in PIECES], REFERENCE)
    assert s["aligned_gap"] == {"pieces_with_returns": 3, "median": 0.1, "mean": 0.12,
                                "reference_songs_with_returns": 2, "reference_median": 0.25, "reference_mean": 0.25,
                                "vs_reference": 0.48}
    assert s["returns"] == {"pieces_with_returns": 3, "returns": 4, "copies": 1, "pieces_with_copies": 1,
                            "peak_correlation_max": 1.0, "reference_returns": 3, "reference_copies": 1}
    assert s["drums"] == {"asked": 2, "asked_none": 2, "percussive_share_median": 0.08,
                          "percussive_share_median_none": 0.03, "ratio": 2.667,
                          "reference_percussive_share_median": 0.05, "reference_percussive_share_median_none": 0.006}
    assert s["mode"] == {"asked": 4, "right": 0.5, "reference_songs": 2, "reference_right": 0.5}


def test_nothing_judged_is_none_not_zero():
    s = summarize_judge([{"judge": _judged(share=0.1)}], [])
    assert s["aligned_gap"]["mean"] is None and s["aligned_gap"]["vs_reference"] is None
    assert s["returns"]["peak_correlation_max"] is None and s["returns"]["copies"] == 0
    assert s["drums"]["ratio"] is None and s["mode"]["right"] is None
