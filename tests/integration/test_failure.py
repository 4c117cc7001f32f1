"""A level that dies mid-song fails `generate` with a message naming it, within
the call deadline, and nothing it started is left running."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psutil

from tests.integration.mesh_helpers import CLI, REPO, alive, log_lines, wait_for

DEADLINE_S = 30


def _ray_processes(temp_prefix: str = "hmray-") -> set[int]:
    found = set()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(temp_prefix in part for part in (proc.info["cmdline"] or [])):
            found.add(proc.info["pid"])
    return found


def test_killing_acoustic_mid_song(tmp_path):
    logs = tmp_path / "logs"
    before = _ray_processes()
    process = subprocess.Popen(
        [*CLI, "generate", "an energetic rock song", "--duration", "60", "--out", str(tmp_path / "x.wav"),
         "--log-dir", str(logs), "--timeout", str(DEADLINE_S), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (logs / "mesh.json").exists() or process.poll() is not None, 300, "mesh.json")
        mesh = json.loads((logs / "mesh.json").read_text())
        # Kill it once the song is under way: it has served chunk 1.
        wait_for(lambda: any(e.get("chunk_index") == 1 for e in log_lines(logs / "acoustic.log"))
                 or process.poll() is not None, 300, "chunk 1")
        assert process.poll() is None, "generate ended before the kill"
        os.kill(mesh["acoustic"]["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        _, stderr = process.communicate(timeout=DEADLINE_S + 60)
        elapsed = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode != 0
    assert "acoustic level" in stderr, stderr[-3000:]
    assert elapsed < DEADLINE_S + 30, f"took {elapsed:.1f} s"
    assert not [level for level, ready in mesh.items() if alive(ready["pid"])]
    wait_for(lambda: not (_ray_processes() - before), 30, "Ray processes to stop")
