"""Rule-breaks asked for one section reach the chunk levels for that
section's chunks only, as the levels themselves report in the trace."""
from __future__ import annotations

import json

from hiermusic.services.common.chunk_layout import SEMANTIC_MARGIN_S
from tests.integration.mesh_helpers import run_cli


def _chunk_spans(record: dict) -> list[tuple[float, float]]:
    """Each chunk's audio span in seconds, from where the chunks join."""
    starts = [0.0] + [j["start_s"] for j in record["joins"]]
    ends = [j["end_s"] for j in record["joins"]] + [record["duration_s"]]
    return list(zip(starts, ends))


def test_modal_interchange_and_displacement_reach_the_asked_sections_chunks(mesh, tmp_path):
    _, composer = mesh
    out = tmp_path / "breaks.wav"
    prompt = ("a mellow indie tune: verse, bridge, chorus, with borrowed chords in the bridge "
              "and displaced accents in the chorus")
    result = run_cli(["generate", prompt, "--duration", 24, "--out", out, "--mesh", composer.address,
                      "--seed", 4], timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    record = json.loads(out.with_suffix(".plan.json").read_text())
    sections = record["sections"]
    assert [s["type"] for s in sections] == ["verse", "bridge", "chorus"]
    assert [s["modal_interchange"] for s in sections] == [False, True, False]
    assert [s["displacement"] for s in sections] == [False, False, True]
    spans = _chunk_spans(record)
    for asked, name in ((sections[1], "modal_interchange"), (sections[2], "displacement")):
        for level in ("acoustic", "temporal"):
            got = {t["chunk"]: name in t["rule_breaks"] for t in record["trace"] if t["level"] == level}
            assert len(got) == len(spans)
            for chunk, (start, end) in enumerate(spans):
                # A chunk's context reaches SEMANTIC_MARGIN_S past its audio on each side (plus a
                # semantic frame of rounding).
                reach = SEMANTIC_MARGIN_S + 0.1
                touches = start - reach < asked["end_s"] and end + reach > asked["start_s"]
                inside = asked["start_s"] <= start and end <= asked["end_s"]
                if inside:
                    assert got[chunk], (level, name, chunk)
                if not touches:
                    assert not got[chunk], (level, name, chunk)
            assert any(got.values()) and not all(got.values())
