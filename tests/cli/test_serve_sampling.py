"""`hiermusic serve LEVEL --sampling FILE --set NAME=VALUE`: a service's
sampling settings over its model card's, refused by name when the level has
no such field, and logged as used when the service starts."""
from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.integration.mesh_helpers import CLI, REPO, log_lines, run_cli, wait_for


@pytest.mark.parametrize(
    ("settings", "flags", "code", "words"),
    [
        ({"top_k": 40, "temprature": 0.5}, [], 1,
         ["cannot start the acoustic service", "sampling.temprature: unknown field", "CoarseSampling has"]),
        ({"top_k": -1}, [], 1, ["sampling.top_k: expected an integer"]),
        ([40], [], 2, ["expected a JSON object of sampling settings"]),
        ({}, ["--set", "top_k"], 2, ["'top_k': expected NAME=VALUE with a JSON value"]),
        ({}, ["--set", "top_k=forty"], 2, ["'top_k=forty': expected NAME=VALUE"]),
    ],
)
def test_bad_sampling_settings_stop_the_service_with_a_clear_error(tmp_path, settings, flags, code, words) -> None:
    file = tmp_path / "sampling.json"
    file.write_text(json.dumps(settings))
    result = run_cli(["serve", "acoustic", "--device", "cpu", "--sampling", file, *flags], timeout=180)
    assert result.returncode == code, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_the_service_logs_the_settings_it_uses(tmp_path) -> None:
    file = tmp_path / "sampling.json"
    file.write_text(json.dumps({"temperature": 0.9, "top_k": 40}))
    ready, log = tmp_path / "ready.json", tmp_path / "acoustic.log"
    with open(log, "w") as err:
        process = subprocess.Popen(
            [*CLI, "serve", "acoustic", "--device", "cpu", "--port", "0", "--metrics-port", "0", "--ready-file",
             str(ready), "--sampling", str(file), "--set", "top_k=32"],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )
    try:
        wait_for(lambda: ready.exists() or process.poll() is not None, 180, "the acoustic service")
        assert ready.exists(), log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    [line] = [line for line in log_lines(log) if line.get("event") == "sampling"]
    # The card's drums floor, the file's temperature, --set's top_k over the file's.
    assert line["settings"] == {"temperature": 0.9, "top_k": 32, "drums_floor": [0.5, 0.0]}
    assert line["overridden"] == ["temperature", "top_k"]
