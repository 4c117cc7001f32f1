"""`hiermusic generate` as a user runs it: three service processes and a local Ray."""
from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from tests.integration.mesh_helpers import alive, run_cli


def test_generate_12s_embedded(tmp_path):
    out = tmp_path / "song.wav"
    logs = tmp_path / "logs"
    result = run_cli(
        ["generate", "an upbeat pop song with a big chorus", "--duration", 12, "--out", out, "--seed", 3,
         "--log-dir", logs, "--device", "cpu"],
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    audio, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and audio.ndim == 1
    assert abs(len(audio) / sr - 12.0) <= 0.1
    assert np.isfinite(audio).all()
    assert np.sqrt(np.mean(audio**2)) > 1e-4, "silent output"

    plan = json.loads(out.with_suffix(".plan.json").read_text())
    sections = plan["sections"]
    assert sections and sections[0]["start_s"] == 0.0
    assert abs(sections[-1]["end_s"] - 12.0) < 1e-3
    assert all(a["end_s"] == b["start_s"] for a, b in zip(sections, sections[1:]))
    assert plan["tempo_bpm"] > 0
    for level in ("semantic", "acoustic", "temporal"):
        assert plan["models"][level]["version"], level
    untrained = plan["untrained_levels"]
    if untrained:
        assert "UNTRAINED" in result.stderr and "untrained weights" in result.stderr
    assert out.with_suffix(".png").stat().st_size > 0

    # The three service processes are gone once generate returns.
    started = json.loads((logs / "mesh.json").read_text())
    assert not [level for level, ready in started.items() if alive(ready["pid"])]


def test_generate_rejects_bad_arguments(tmp_path):
    result = run_cli(["generate", "  ", "--duration", 5, "--out", tmp_path / "x.wav"], timeout=60)
    assert result.returncode == 2 and "prompt is empty" in result.stderr
    result = run_cli(["generate", "jazz", "--duration", -3, "--out", tmp_path / "x.wav"], timeout=60)
    assert result.returncode == 2 and "--duration" in result.stderr


def test_generate_refuses_a_bad_scheduler_config_before_starting_anything(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text('{"chunk_s": 4.0, "clients": {"acustic": {"num_cpus": 1}}}')
    result = run_cli(["generate", "jazz", "--out", tmp_path / "x.wav", "--scheduler-config", config], timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "clients.acustic: unknown level; expected semantic, acoustic or temporal" in result.stderr
    assert "starting" not in result.stderr
    config.write_text('{"scheduler": {"num_cpu": 1}}')
    result = run_cli(["generate", "jazz", "--out", tmp_path / "x.wav", "--scheduler-config", config], timeout=60)
    assert result.returncode == 2 and "scheduler.num_cpu: unknown field" in result.stderr
