"""Starting level services as local processes on free loopback ports, and
stopping every one of them whatever happens."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hiermusic.services.common.security import ServerSecurity

_PR_SET_PDEATHSIG = 1


class MeshError(RuntimeError):
    pass


@dataclass
class LevelLaunch:
    """How to start one level: the `hiermusic serve` flags beyond the ports."""

    level: str
    port: int = 0  # 0: any free port
    plugin: str = ""
    checkpoint: str = ""
    device: str = "auto"
    codec_plugin: str = ""
    codec_checkpoint: str = ""
    threads: int = 0
    replicas: int = 1  # processes serving this level, each on its own port
    security: ServerSecurity = field(default_factory=ServerSecurity)  # TLS and token (services/common/security.py)
    extra: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        args = ["serve", self.level, "--device", self.device]
        for flag, value in (
            ("--plugin", self.plugin),
            ("--checkpoint", self.checkpoint),
            ("--codec-plugin", self.codec_plugin),
            ("--codec-checkpoint", self.codec_checkpoint),
        ):
            if value:
                args += [flag, value]
        if self.threads:
            args += ["--threads", str(self.threads)]
        return args + self.security.argv() + self.extra


def local_threads(level: str, replicas: int = 1, cores: int | None = None) -> int:
    """Torch threads for one local replica of `level`: acoustic (chunk n+1)
    and temporal (chunk n) run at once, so each gets half the cores, as two
    processes that each spread over all cores slow each other many-fold; the
    semantic level plans before them and gets them all. Float sums differ
    with thread counts, so a mesh that must give `generate`'s samples starts
    its levels with these."""
    cores = cores or os.cpu_count() or 1
    share = cores if level == "semantic" else max(1, cores // 2)
    return max(1, share // replicas)


def _die_with_parent() -> None:
    # A service must not outlive the command that started it, even on SIGKILL.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class LevelProcess:
    launch: LevelLaunch
    process: subprocess.Popen
    log_path: Path
    ready_path: Path
    ready: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.ready['host']}:{self.ready['port']}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def replica_name(level: str, index: int) -> str:
    """A replica's name in logs, ready files and mesh.json: the level for the
    first, then level-2, level-3, ..."""
    return level if index == 0 else f"{level}-{index + 1}"


class LocalMesh:
    """Level services as child processes, keyed by replica name (replica_name);
    logs and ready files in `run_dir`."""

    def __init__(self, run_dir: Path, launches: list[LevelLaunch]) -> None:
        self.run_dir = Path(run_dir)
        self.launches = launches
        self.processes: dict[str, LevelProcess] = {}

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for launch in self.launches:
            if launch.replicas < 1 or (launch.replicas > 1 and launch.port):
                raise MeshError(f"{launch.level}: {launch.replicas} replica(s) on port {launch.port}; "
                                "replicas take free ports (port 0)")
            for index in range(launch.replicas):
                self._start_one(launch, replica_name(launch.level, index))

    def _start_one(self, launch: LevelLaunch, name: str) -> None:
        log_path = self.run_dir / f"{name}.log"
        ready_path = self.run_dir / f"{name}.ready.json"
        ready_path.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "hiermusic.cli.main", *launch.argv(), "--port", str(launch.port)]
        argv += ["--metrics-port", "0"]
        argv += ["--ready-file", str(ready_path)]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
            )
        self.processes[name] = LevelProcess(launch, process, log_path, ready_path)

    def wait_ready(self, timeout_s: float = 300.0) -> dict[str, str]:
        """Addresses of every level once each replica has written its ready file."""
        deadline = time.monotonic() + timeout_s
        waiting = dict(self.processes)
        while waiting:
            for level, proc in list(waiting.items()):
                if proc.ready_path.exists():
                    proc.ready = json.loads(proc.ready_path.read_text())
                    del waiting[level]
                elif proc.process.poll() is not None:
                    raise MeshError(
                        f"{level} service exited during startup (code {proc.process.returncode}); "
                        f"its log {proc.log_path} ends:\n{proc.log_tail()}"
                    )
            if waiting and time.monotonic() > deadline:
                raise MeshError(f"{', '.join(waiting)} not ready after {timeout_s:.0f} s; logs in {self.run_dir}")
            time.sleep(0.1)
        (self.run_dir / "mesh.json").write_text(
            json.dumps({name: p.ready for name, p in self.processes.items()}, indent=2)
        )
        return self.addresses()

    def addresses(self) -> dict[str, str]:
        """Level -> its address, its replicas' joined by commas (level_address.py)."""
        joined: dict[str, list[str]] = {}
        for proc in self.processes.values():
            joined.setdefault(proc.launch.level, []).append(proc.address)
        return {level: ",".join(found) for level, found in joined.items()}

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM (the services drain), then SIGKILL whatever is left."""
        for proc in self.processes.values():
            if proc.process.poll() is None:
                proc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.processes.values():
            try:
                proc.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait()

    def __enter__(self) -> "LocalMesh":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
