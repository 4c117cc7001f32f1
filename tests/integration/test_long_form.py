"""A 40 s piece through the running mesh: each level's summary tokens for
chunk n are the ones it returned for chunk n-1, seen in its own logs."""
from __future__ import annotations

import json

import soundfile as sf

from tests.integration.mesh_helpers import log_lines, run_cli


def _chain(entries: list[dict]) -> None:
    entries = sorted(entries, key=lambda e: e["chunk"])
    assert [e["chunk"] for e in entries] == list(range(len(entries)))
    assert entries[0]["in"] == ""
    for prev, cur in zip(entries, entries[1:]):
        assert cur["in"] == prev["out"] != "", f"chunk {cur['chunk']}"


def test_40s_summary_tokens_chain_across_chunks(mesh, tmp_path):
    levels, composer = mesh
    out = tmp_path / "long.wav"
    result = run_cli(["generate", "a folk tune that builds to a chorus", "--duration", 40, "--out", out,
                      "--mesh", composer.address, "--seed", 11], timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    audio, sr = sf.read(out)
    assert abs(len(audio) / sr - 40.0) <= 0.1

    plan = json.loads(out.with_suffix(".plan.json").read_text())
    request_id = plan["request_id"]
    for level in ("acoustic", "temporal"):
        # What the service itself logged for this song.
        logged = [
            {"chunk": e["chunk_index"], "in": e["summary_in_sha256"], "out": e["summary_out_sha256"]}
            for e in log_lines(levels.processes[level].log_path)
            if e.get("event") == "summary" and e.get("request_id") == request_id
        ]
        assert len(logged) >= 10, f"{level}: {len(logged)} chunks, need >= 10 (9 boundaries)"
        _chain(logged)
        # The plan's trace, as the scheduler received it, says the same.
        traced = [
            {"chunk": t["chunk"], "in": t["summary_in_sha256"], "out": t["summary_out_sha256"]}
            for t in plan["trace"] if t["level"] == level
        ]
        assert sorted(traced, key=lambda e: e["chunk"]) == sorted(logged, key=lambda e: e["chunk"])
