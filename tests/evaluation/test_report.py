"""The report leads with issue 28's figures by the independent judge, each
beside the eval's own figure for the same question, and lists every
piece's returns; a report written before them still renders."""
from __future__ import annotations

import copy

from hiermusic.evaluation.report import headline, render_markdown
from hiermusic.evaluation.summary import summarize_pieces


def _report(piece: dict, reference_judge: list[dict]) -> dict:
    """A report as runner.measure writes it, around one measured piece."""
    return {
        "summary": summarize_pieces([piece], None, [], reference_judge),
        "fidelity": {"feature_set": "librosa-v1", "frechet_distance": None, "codec": {}},
        "text_audio": {"available": False, "reason": "not measured here"},
        "speed": {"songs": {}, "levels": []},
        "pieces": [piece],
        "models": {},
    }


def test_the_judge_s_figures_sit_beside_the_eval_s(judged_piece):
    reference = copy.deepcopy(judged_piece["measures"]["judge"])  # the piece as its own corpus song
    reference["aligned_gap"]["gap"] *= 2
    figures = [(f.label, f.value, f.of) for f in headline(_report(judged_piece, [reference]))]
    labels = [label for label, _, _ in figures]

    def after(label: str) -> tuple:
        return figures[labels.index(label) + 1]

    assert after("asked mode (major/minor) found") == ("  same, by the independent judge (bar 90%)", 1.0, 1)
    assert after("no drums when asked")[0] == "judge's percussive share, median, drums asked"
    gap_row = after("  ratio to the corpus songs")
    assert gap_row[0] == "judge's aligned section gap (returning minus other), mean" and gap_row[1] > 0.1
    value = dict((label, v) for label, v, _ in figures)
    assert value["  ratio of means to the corpus songs (bar 0.8)"] == 0.5
    assert value["returns copied sample for sample (bar: none)"] == 1 and value["  of returns"] == 2
    assert value["  closest return: 1 - peak correlation (copy <= 1e-4)"] <= 1e-4
    assert value["  same, held-out corpus songs: copies / returns"] == "1 / 2"
    assert len(labels) == len(set(labels))  # `eval compare` lines figures up by label
    markdown = render_markdown(_report(judged_piece, [reference]))
    assert "## The independent judge (issue 28)" in markdown
    assert "| t01 |" in markdown and "2←0 1.00000 COPY, 3←1 0." in markdown


def test_a_report_from_before_the_judge_still_renders(judged_piece):
    piece = copy.deepcopy(judged_piece)
    del piece["measures"]["judge"]
    report = _report(judged_piece, [])
    report["pieces"] = [piece]
    del report["summary"]["judge"]
    labels = [f.label for f in headline(report)]
    assert not any("judge" in label for label in labels)
    assert "independent judge" not in render_markdown(report)
