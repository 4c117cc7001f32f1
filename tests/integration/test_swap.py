"""Swapping the acoustic level's model while semantic and temporal keep running, and
restarting it while songs play."""
from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
import torch

from hiermusic.orchestrator.mesh import LevelLaunch
from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer
from hiermusic.services.common.checkpoint import save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import card_for
from hiermusic.services.common.nn import TransformerConfig
from tests.integration.mesh_helpers import (Composer, alive, bundled_token_space, free_port, log_lines, run_cli,
                                            start_levels, wait_for)


def _acoustic_checkpoint(path, version: str, space: TokenSpaceConfig):
    config = CoarseConfig(token_space=space, transformer=TransformerConfig(dim=128, layers=2, heads=4, max_len=512))
    torch.manual_seed(7)
    save_checkpoint(CoarseTransformer(config), card_for("coarse_transformer", "acoustic", config, space, version), path)
    return path


def _song(composer, out, duration_s: float = 6) -> tuple:
    result = run_cli(["generate", "a rock anthem", "--duration", duration_s, "--out", out, "--mesh", composer.address],
                     timeout=600)
    plan = json.loads(out.with_suffix(".plan.json").read_text()) if result.returncode == 0 else None
    return result, plan


@pytest.fixture()
def swap_mesh(tmp_path):
    port = free_port()
    others = start_levels(tmp_path / "others", [LevelLaunch("semantic", device="cpu"), LevelLaunch("temporal", device="cpu")])
    acoustic = start_levels(tmp_path / "acoustic0", [LevelLaunch("acoustic", port=port, device="cpu")])
    composer = None
    try:
        composer = Composer(tmp_path / "composer", {**others.addresses(), **acoustic.addresses()})
        yield others, acoustic, composer, port
    finally:
        if composer is not None:
            composer.stop()
        others.stop()


def test_swap_acoustic_between_songs(swap_mesh, tmp_path):
    others, acoustic, composer, port = swap_mesh
    pids = {level: p.ready["pid"] for level, p in others.processes.items()}

    result, first = _song(composer, tmp_path / "one.wav")
    assert result.returncode == 0, result.stderr[-4000:]
    old_version = first["models"]["acoustic"]["version"]

    checkpoint = _acoustic_checkpoint(tmp_path / "swap.safetensors", "coarse-swap-test-v2",
                                      bundled_token_space("acoustic"))
    acoustic.stop()
    swapped = start_levels(tmp_path / "acoustic1", [LevelLaunch("acoustic", port=port, device="cpu",
                                                                 checkpoint=str(checkpoint))])
    try:
        result, second = _song(composer, tmp_path / "two.wav")
        assert result.returncode == 0, result.stderr[-4000:]
        assert second["models"]["acoustic"]["version"] == "coarse-swap-test-v2" != old_version
        assert {t["model_version"] for t in second["trace"] if t["level"] == "acoustic"} == {"coarse-swap-test-v2"}
        assert second["models"]["semantic"] == first["models"]["semantic"]
        assert second["models"]["temporal"] == first["models"]["temporal"]
        assert all(alive(pid) for pid in pids.values())
        assert {level: p.ready["pid"] for level, p in others.processes.items()} == pids
    finally:
        swapped.stop()

    # A model whose token space does not match its neighbours is refused.
    wrong = _acoustic_checkpoint(tmp_path / "wrong.safetensors", "coarse-512", replace(bundled_token_space("acoustic"), codebook_size=512))
    mismatched = start_levels(tmp_path / "acoustic2", [LevelLaunch("acoustic", port=port, device="cpu",
                                                                    checkpoint=str(wrong))])
    try:
        result, _ = _song(composer, tmp_path / "three.wav")
        assert result.returncode != 0
        assert "codebook_size" in result.stderr
        assert "acoustic (coarse_transformer coarse-512)" in result.stderr
        assert "temporal (fine_transformer" in result.stderr
    finally:
        mismatched.stop()
    assert all(alive(pid) for pid in pids.values())


STREAMS, SONGS_EACH = 2, 3
SONG_S = 10  # three chunks: one may still drain on the old process, one must wait for the new


def test_a_restarted_level_fails_no_song_in_flight(swap_mesh, tmp_path):
    """Two streams of three songs; the acoustic level is stopped (SIGTERM, it
    drains) and started again on its port while they play, default config.
    A song whose chunks both processes served was in flight across the gap."""
    _, acoustic, composer, port = swap_mesh
    old_log = acoustic.processes["acoustic"].log_path
    results: dict[tuple[int, int], object] = {}

    def stream(n: int) -> None:
        for k in range(SONGS_EACH):
            results[n, k], _ = _song(composer, tmp_path / f"s{n}-{k}.wav", SONG_S)

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(STREAMS)]
    for thread in threads:
        thread.start()
    # Stopped as soon as a song has its first chunk: that song is in flight.
    wait_for(lambda: any(e.get("chunk_index") is not None for e in log_lines(old_log))
             or not any(t.is_alive() for t in threads), 300, "the first songs under way")
    acoustic.stop()
    restarted = start_levels(tmp_path / "acoustic1", [LevelLaunch("acoustic", port=port, device="cpu")])
    try:
        for thread in threads:
            thread.join(600)
        failed = {key: r.stderr[-1500:] for key, r in results.items() if r.returncode != 0}
        assert len(results) == STREAMS * SONGS_EACH and not failed, failed
        served = [{e["request_id"] for e in log_lines(log) if e.get("chunk_index") is not None}
                  for log in (old_log, restarted.processes["acoustic"].log_path)]
        assert served[0] & served[1], "no song was in flight across the restart"
    finally:
        restarted.stop()
