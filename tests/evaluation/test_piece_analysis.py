"""A piece's record carries the independent judge's figures (issue 28):
its returns against their first occurrences, the aligned section gap, the
percussive share and the key, each beside what the prompt asked."""
from __future__ import annotations

import json

from hiermusic.evaluation.independent_judge import COPY_CORRELATION


def test_the_judge_flags_the_pasted_return_and_hears_the_asked_mode(judged_piece):
    judge = judged_piece["measures"]["judge"]
    pasted, replayed = judge["returns"]
    assert (pasted["section"], pasted["returns_to"], pasted["copy"]) == (2, 0, True)
    assert pasted["peak"] >= COPY_CORRELATION and pasted["lag_s"] == 0.0
    # The same chords with other phases: alike to the ear, other samples.
    assert (replayed["section"], replayed["returns_to"], replayed["copy"]) == (3, 1, False)
    assert replayed["peak"] < 0.9
    assert judge["copies"] == 1
    assert judge["aligned_gap"]["returning_pairs"] == 2 and judge["aligned_gap"]["gap"] > 0.1
    assert judge["percussive_share"] < 0.05 and judge["drums_asked"] is False
    assert (judge["key"]["key"], judge["key"]["mode"], judge["mode_asked"], judge["mode_matches"]) == (
        "C", "major", "major", True)
    assert json.loads(json.dumps(judge)) == judge  # plain JSON, no numpy scalars

