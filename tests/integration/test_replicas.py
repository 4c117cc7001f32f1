"""A level served by two replicas: calls are spread over both, and a replica
killed mid-song costs the song nothing (its chunk is tried on the other)."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import soundfile as sf

from tests.integration.mesh_helpers import CLI, REPO, log_lines, wait_for

DURATION_S = 16  # a 2 s chunk, then 4 s each: both replicas serve, and chunks are left after the kill


def _served_chunks(log) -> int:
    return sum(e.get("chunk_index") is not None for e in log_lines(log)) if log.exists() else 0


def test_a_killed_replica_costs_the_song_nothing(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "song.wav"
    process = subprocess.Popen(
        [*CLI, "generate", "a calm piano piece", "--duration", str(DURATION_S), "--out", str(out),
         "--log-dir", str(logs), "--replicas", "temporal=2", "--device", "cpu", "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (logs / "mesh.json").exists() or process.poll() is not None, 300, "mesh.json")
        mesh = json.loads((logs / "mesh.json").read_text())
        assert {"temporal", "temporal-2"} <= set(mesh), mesh
        # Both replicas serve before the kill: the calls are balanced, not sent to the first.
        wait_for(lambda: min(_served_chunks(logs / "temporal.log"), _served_chunks(logs / "temporal-2.log")) >= 1
                 or process.poll() is not None, 300, "both temporal replicas serving")
        assert process.poll() is None, "generate ended before both replicas served"
        os.kill(mesh["temporal-2"]["pid"], signal.SIGKILL)
        survivor_before = _served_chunks(logs / "temporal.log")
        _, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    audio, sr = sf.read(out)
    assert abs(len(audio) / sr - DURATION_S) < 0.1
    assert _served_chunks(logs / "temporal.log") > survivor_before  # the rest of the song went to the survivor
