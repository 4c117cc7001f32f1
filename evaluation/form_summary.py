"""The form measures of a run's pieces (piece_analysis.analyze_form) folded
into the figures issue 27 asks for: forms honoured in the plan, loud over
quiet, drums in over out, returns, extended intros and abrupt endings."""
from __future__ import annotations

import numpy as np


def summarize_form(pieces: list[dict], always: bool = False) -> dict | None:
    """None when no prompt of the run asked anything of its form (unless `always`)."""
    forms = [p["measures"]["form"] for p in pieces if "form" in p["measures"]]
    if not forms and not always:
        return None
    loud = [f["loud_vs_quiet"] for f in forms if "loud_vs_quiet" in f]
    drums = [f["drums_in_vs_out"] for f in forms if "drums_in_vs_out" in f]
    rule_breaks = {}
    for measure in ("modal_interchange", "displacement"):
        found = [f["rule_breaks"][measure] for f in forms if measure in f.get("rule_breaks", {})]
        rule_breaks[measure] = {**_count([r["higher"] is True for r in found]),
                                "median_contrast": _median([r["contrast"] for r in found])}
    return {
        "pieces": len(forms),
        "honoured": _count([f["honoured"] for f in forms if f["honoured"] is not None]),
        "descriptions_in_plan": _count([all(c["passed"] for c in f["descriptions"]) for f in forms
                                        if f["descriptions"]]),
        "loud_vs_quiet": {**_count([x["passed"] for x in loud]), "median_gap_db": _median([x["value"] for x in loud])},
        "drums_in_vs_out": {**_count([x["passed"] for x in drums]),
                            "median_ratio": _median([x["value"] for x in drums])},
        "returns": _count([f["returns"]["passed"] for f in forms if f.get("returns", {}).get("counted")]),
        "extended_intro": _count([f["extended_intro"]["passed"] for f in forms if "extended_intro" in f]),
        "abrupt_ending": {**_count([f["abrupt_ending"]["passed"] for f in forms if "abrupt_ending" in f]),
                          "median_ending_db": _median([f["abrupt_ending"]["ending_db"] for f in forms
                                                       if "abrupt_ending" in f])},
        "rule_breaks_higher": rule_breaks,
    }


def _count(flags: list[bool]) -> dict:
    """k of n, and the share (None of none)."""
    k = sum(bool(f) for f in flags)
    return {"passed": k, "of": len(flags), "share": round(k / len(flags), 3) if flags else None}


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.median(values)), 3) if values else None
