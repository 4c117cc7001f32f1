"""Thematic memory reaches the acoustic level for the chunks of a return and
for no chunk of a first occurrence, as the level itself reports in the
trace (the ChunkTrace of the summary, written to the .plan.json)."""
from __future__ import annotations

import json

from tests.integration.mesh_helpers import run_cli


def _written_spans(record: dict) -> list[tuple[float, float]]:
    """Each chunk's frames the acoustic level writes, in seconds: from the end
    of the overlap it shares with the chunk before (joins) to its own end."""
    starts = [0.0] + [j["end_s"] for j in record["joins"]]
    ends = [j["end_s"] for j in record["joins"]] + [record["duration_s"]]
    return list(zip(starts, ends))


def test_a_return_s_chunks_hear_its_first_occurrence_and_no_other_chunk_hears_any(mesh, tmp_path):
    _, composer = mesh
    out = tmp_path / "form.wav"
    result = run_cli(["generate", "[verse] [chorus] [verse] [chorus]", "--duration", 32, "--out", out,
                      "--mesh", composer.address, "--seed", 2], timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    record = json.loads(out.with_suffix(".plan.json").read_text())
    sections = record["sections"]
    assert [s["type"] for s in sections] == ["verse", "chorus", "verse", "chorus"]
    assert [s["repeat_of"] for s in sections] == [0, 1, 0, 1]
    trace = {(t["chunk"], t["level"]): t for t in record["trace"]}
    spans = _written_spans(record)
    heard = []
    for chunk, (start, end) in enumerate(spans):
        assert (trace[chunk, "temporal"]["memory_frames"], trace[chunk, "temporal"]["memory_of_section"]) == (0, -1)
        got = trace[chunk, "acoustic"]
        # Seconds of each return this chunk writes (a frame's rounding either side aside).
        in_returns = {i: min(end, s["end_s"]) - max(start, s["start_s"])
                      for i, s in enumerate(sections) if s["repeat_of"] < i}
        in_returns = {i: seconds for i, seconds in in_returns.items() if seconds > 0.02}
        if not in_returns:
            assert (got["memory_frames"], got["memory_of_section"]) == (0, -1), chunk
            continue
        heard.append(chunk)
        most = max(in_returns, key=in_returns.get)
        assert got["memory_of_section"] == sections[most]["repeat_of"], (chunk, got, in_returns)
        assert 0 < got["memory_frames"] <= round(in_returns[most] * 50) + 1, (chunk, got, in_returns)
    # The first half of the piece is first occurrences only; the second half returns.
    assert heard and heard[0] > 0 and len(heard) < len(spans)
