"""Every process of the mesh serves Prometheus text with what it measured."""
from __future__ import annotations

from tests.integration.mesh_helpers import run_cli, scrape

METHODS = {"semantic": "PlanStream", "acoustic": "GenerateCoarse", "temporal": "Render"}


def test_metrics_after_a_song(mesh, tmp_path):
    levels, composer = mesh
    result = run_cli(["generate", "dreamy electronic pads", "--duration", 6, "--out", tmp_path / "m.wav",
                      "--mesh", composer.address], timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]

    for level, method in METHODS.items():
        ready = levels.processes[level].ready
        samples = scrape(ready["metrics_port"])
        counts = [
            s for s in samples["hiermusic_level_request_seconds"]
            if s.name.endswith("_count") and s.labels["level"] == level and s.labels["method"] == method
        ]
        assert counts and counts[0].value > 0, level
        assert counts[0].labels["model"] == ready["plugin"]
        assert counts[0].labels["version"] == ready["model_version"]
        ok = [s for s in samples["hiermusic_level_requests"] if s.labels.get("code") == "OK"
              and s.labels["method"] == method and s.name.endswith("_total")]
        assert ok and ok[0].value > 0, level

    scheduler = scrape(composer.scheduler_metrics_port)
    for name in ("hiermusic_song_seconds", "hiermusic_time_to_first_audio_seconds", "hiermusic_real_time_factor"):
        count = [s for s in scheduler[name] if s.name == f"{name}_count"]
        assert count and count[0].value > 0, name
