"""`hiermusic generate` refusing what it cannot make before it starts anything
(a whole run, its files and its processes: test_fixed_seed_audio.py)."""
from __future__ import annotations

from tests.integration.mesh_helpers import run_cli


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
