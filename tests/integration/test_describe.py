"""`hiermusic describe HOST:PORT` prints a level's ModelInfo."""
from __future__ import annotations

import json

from tests.integration.mesh_helpers import free_port, run_cli


def test_describe_each_level(mesh):
    levels, _ = mesh
    for level, process in levels.processes.items():
        result = run_cli(["describe", process.address], timeout=60)
        assert result.returncode == 0, result.stderr
        info = json.loads(result.stdout)
        assert info["level"] == level and info["model_version"] == process.ready["model_version"]
        assert info["token_space"]["codebooks"] == 8 and info["token_space"]["frame_rate"] == 50.0


def test_describe_nothing_listening():
    result = run_cli(["describe", f"127.0.0.1:{free_port()}", "--timeout", "2"], timeout=60)
    assert result.returncode == 1 and "UNAVAILABLE" in result.stderr
