"""A level that dies mid-song fails `generate` with a message naming it, within
the call deadline, and nothing it started is left running."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.integration.mesh_helpers import CLI, REPO, alive, log_lines, wait_for

DEADLINE_S = 30
RECONNECT_S = 2.0


def _descendants(pid: int) -> list[psutil.Process]:
    """What `pid` started (its services, Ray's GCS, raylet and workers); only
    this generate's, as other tests start Ray meshes of their own beside it."""
    return psutil.Process(pid).children(recursive=True)


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _all_ended(processes: list[psutil.Process]) -> bool:
    # is_running() compares start times too, so a reused pid is not mistaken for one still running.
    def running(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    return not [p for p in processes if running(p)]


def _kill_mid_song(tmp_path, level: str, duration_s: int,
                   under_way: Callable[[Path], bool]) -> tuple[dict, str, list[psutil.Process]]:
    """Runs `generate`, kills `level` once `under_way(log_dir)`, and returns
    the mesh, generate's stderr and the processes generate had started."""
    logs = tmp_path / "logs"
    # A dead level is tried for reconnect_s (a restart would be back by then); not for 20 s here.
    config = tmp_path / "scheduler.json"
    config.write_text(json.dumps({"reconnect_s": RECONNECT_S}))
    process = subprocess.Popen(
        [*CLI, "generate", "an energetic rock song", "--duration", str(duration_s), "--out", str(tmp_path / "x.wav"),
         "--log-dir", str(logs), "--timeout", str(DEADLINE_S), "--scheduler-config", str(config), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (logs / "mesh.json").exists() or process.poll() is not None, 300, "mesh.json")
        mesh = json.loads((logs / "mesh.json").read_text())
        wait_for(lambda: under_way(logs) or process.poll() is not None, 300, "the song under way")
        assert process.poll() is None, "generate ended before the kill"
        started = _descendants(process.pid)
        assert any("hmray-" in _cmdline(p) for p in started), "generate's own Ray is not among what it started"
        os.kill(mesh[level]["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        _, stderr = process.communicate(timeout=DEADLINE_S + 60)
        elapsed = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    assert f"{level} level" in stderr, stderr[-3000:]
    assert elapsed < DEADLINE_S + 30, f"took {elapsed:.1f} s"
    assert "UNAVAILABLE" in stderr, stderr[-3000:]  # a level that cannot be reached, not a deadline passed
    return mesh, stderr, started


def _served(level: str, chunk: int) -> Callable[[Path], bool]:
    return lambda logs: any(e.get("chunk_index") == chunk for e in log_lines(logs / f"{level}.log"))


def test_killing_acoustic_mid_song(tmp_path):
    mesh, _, started = _kill_mid_song(tmp_path, "acoustic", 60, _served("acoustic", 1))
    assert not [level for level, ready in mesh.items() if alive(ready["pid"])]
    wait_for(lambda: _all_ended(started), 30, "the processes generate started to stop")


def test_killing_semantic_while_it_still_plans(tmp_path):
    """The plan streams in while the first chunks are made: a semantic level
    that dies then fails the song too. A 600 s plan takes several seconds,
    and the kill comes as soon as the first chunk is rendered."""
    mesh, stderr, started = _kill_mid_song(tmp_path, "semantic", 600, _served("temporal", 0))
    assert "PlanStream" in stderr, stderr[-3000:]
    assert not [level for level, ready in mesh.items() if alive(ready["pid"])]
    wait_for(lambda: _all_ended(started), 30, "the processes generate started to stop")
