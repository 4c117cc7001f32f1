"""Starting real hiermusic processes from tests and reading what they left:
ready files, JSON log lines, Prometheus text."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hiermusic.evaluation.speed import scrape as scrape_endpoint
from hiermusic.orchestrator.mesh import LevelLaunch, LocalMesh, local_threads
from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.common.checkpoint import load_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.limits import LEVELS

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "hiermusic.cli.main"]


def run_cli(args: list, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_levels(run_dir: Path, launches: list[LevelLaunch]) -> LocalMesh:
    mesh = LocalMesh(run_dir, launches)
    mesh.start()
    try:
        mesh.wait_ready()
    except Exception:
        mesh.stop()
        raise
    return mesh


@contextmanager
def cpu_mesh(run_dir: Path) -> Iterator[tuple[LocalMesh, "Composer"]]:
    """Three real level services on the CPU and a Composer (Ray scheduler) in
    front of them, stopped after; each level with the threads `generate`
    gives it, so a song made here has generate's samples."""
    levels = start_levels(run_dir, [LevelLaunch(level, device="cpu", threads=local_threads(level)) for level in LEVELS])
    composer = None
    try:
        composer = Composer(run_dir / "composer", levels.addresses())
        yield levels, composer
    finally:
        if composer is not None:
            composer.stop()
        levels.stop()


class Composer:
    """`hiermusic up` in front of already running level services (those
missing from `addresses` it starts itself), with `extra` flags."""

    def __init__(self, run_dir: Path, addresses: dict[str, str], extra: tuple[str, ...] = ()) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        ready = run_dir / "composer.ready.json"
        args = ["up", "--port", "0", "--metrics-port", "0", "--scheduler-metrics-port", "0", "--ready-file", ready,
                "--log-dir", run_dir, *extra]
        for level, address in addresses.items():
            args += [f"--{level}", address]
        self.log = open(run_dir / "composer.log", "wb")
        self.process = subprocess.Popen(
            [*CLI, *map(str, args)], stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, stdin=subprocess.DEVNULL
        )
        wait_for(lambda: ready.exists() or self.process.poll() is not None, 180, "composer ready")
        if not ready.exists():
            raise RuntimeError(f"composer exited: {(run_dir / 'composer.log').read_text()[-3000:]}")
        self.ready = json.loads(ready.read_text())
        self.address = f"127.0.0.1:{self.ready['port']}"
        self.scheduler_metrics_port = json.loads((run_dir / "scheduler.json").read_text())["scheduler_metrics_port"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def wait_for(condition, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def log_lines(path: Path) -> list[dict]:
    """The JSON lines of a service log (other lines, e.g. warnings, skipped)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def scrape(port: int) -> dict[str, list]:
    """Prometheus samples by metric family name."""
    return scrape_endpoint(f"127.0.0.1:{port}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def bundled_token_space(level: str) -> TokenSpaceConfig:
    """The token space of the level's bundled weights (the untrained default
    when none are bundled): a model swapped into the default mesh must speak it."""
    checkpoint = bundled_checkpoint(level)
    return TokenSpaceConfig(**load_checkpoint(checkpoint)[1].token_space) if checkpoint else TokenSpaceConfig()
