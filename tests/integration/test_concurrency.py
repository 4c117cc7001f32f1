"""Several songs in flight at once through one scheduler."""
from __future__ import annotations

import json
import subprocess

from tests.integration.mesh_helpers import CLI, REPO, log_lines


def test_two_songs_in_flight_at_once(mesh, tmp_path):
    levels, composer = mesh
    outs = [tmp_path / "a.wav", tmp_path / "b.wav"]
    processes = [
        subprocess.Popen([*CLI, "generate", prompt, "--duration", "24", "--out", str(out), "--mesh", composer.address,
                          "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for seed, (prompt, out) in enumerate(zip(["calm piano", "fast drum and bass"], outs))
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]

    ids = [json.loads(out.with_suffix(".plan.json").read_text())["request_id"] for out in outs]
    assert ids[0] != ids[1]
    # The acoustic service's own log shows the two songs' chunks interleaved.
    order = [e["request_id"] for e in log_lines(levels.processes["acoustic"].log_path)
             if e.get("event") == "rpc" and e.get("request_id") in ids and e.get("method") == "GenerateCoarse"]
    assert len(order) == 2 * 7  # 24 s: a 2 s first chunk, then six 5 s chunks with 1 s overlaps
    first_done = max(i for i, rid in enumerate(order) if rid == order[0])
    assert any(rid != order[0] for rid in order[:first_done]), f"songs ran one after the other: {order}"
