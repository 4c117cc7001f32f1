"""Swapping the acoustic level's model while semantic and temporal keep running,
restarting it while songs play, and reloading its model in place while they play."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import grpc
import pytest
import torch

from hiermusic.orchestrator.mesh import LevelLaunch
from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer
from hiermusic.services.common.checkpoint import save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import card_for
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.v1 import contract_pb2, levels_pb2_grpc
from tests.integration.mesh_helpers import (Composer, alive, bundled_token_space, free_port, log_lines, run_cli,
                                            scrape, start_levels, wait_for)
from tests.services.bundled_copy import bundled_copy


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


@pytest.fixture(scope="module")
def steady(tmp_path_factory, mesh):
    """The session mesh's semantic and temporal levels behind a Composer of
    the module's own; the acoustic level on `port` is each test's own (the
    first test gets the one the Composer started with)."""
    others, _ = mesh
    root, port = tmp_path_factory.mktemp("swap"), free_port()
    first = start_levels(root / "acoustic0", [LevelLaunch("acoustic", port=port, device="cpu")])
    composer = None
    try:
        kept = {level: address for level, address in others.addresses().items() if level != "acoustic"}
        composer = Composer(root / "composer", {**kept, **first.addresses()})
        yield others, composer, port, [first]
    finally:
        first.stop()
        if composer is not None:
            composer.stop()


@pytest.fixture()
def swap_mesh(steady, tmp_path):
    others, composer, port, spare = steady
    acoustic = spare.pop() if spare else start_levels(tmp_path / "acoustic0", [LevelLaunch("acoustic", port=port,
                                                                                            device="cpu")])
    try:
        yield others, acoustic, composer, port
    finally:
        acoustic.stop()


def test_swap_acoustic_between_songs(swap_mesh, tmp_path):
    others, acoustic, composer, port = swap_mesh
    pids = {level: p.ready["pid"] for level, p in others.processes.items() if level != "acoustic"}

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
        assert {level: p.ready["pid"] for level, p in others.processes.items() if level != "acoustic"} == pids
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


RELOAD_SONG_S = 6  # two chunks


def test_an_in_place_reload_fails_no_song_and_the_next_chunks_report_it(swap_mesh, tmp_path):
    """Two streams of three songs; while the first are under way the acoustic
    level reloads in place (`hiermusic reload`, as a user would) a copy of
    its bundled weights under a card naming a new version, then is asked to
    reload a model whose contract differs, which it refuses. No song fails,
    and every song begun after the reload has only chunks of the new version."""
    _, acoustic, composer, _ = swap_mesh
    level = acoustic.processes["acoustic"]
    old_version = level.ready["model_version"]
    checkpoint = bundled_copy("acoustic", tmp_path / "v2.safetensors", "coarse-reloaded-v2")
    mismatched = bundled_copy("acoustic", tmp_path / "other.safetensors", "coarse-other-codec", codec_id="other-codec")
    songs: dict[tuple[int, int], tuple] = {}

    def stream(n: int) -> None:
        for k in range(SONGS_EACH):
            began = time.monotonic()
            result, plan = _song(composer, tmp_path / f"r{n}-{k}.wav", RELOAD_SONG_S)
            songs[n, k] = began, result, plan

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(STREAMS)]
    for thread in threads:
        thread.start()
    wait_for(lambda: any(e.get("chunk_index") is not None for e in log_lines(level.log_path))
             or not any(t.is_alive() for t in threads), 300, "the first songs under way")
    reload = run_cli(["reload", "acoustic", level.address, "--checkpoint", checkpoint], timeout=300)
    assert reload.returncode == 0, reload.stderr[-2000:]
    assert reload.stdout.strip() == f"acoustic: coarse_transformer {old_version} -> coarse_transformer coarse-reloaded-v2"
    refused = run_cli(["reload", "acoustic", level.address, "--checkpoint", mismatched], timeout=300)
    reloaded = time.monotonic()
    assert refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr, refused.stderr[-2000:]
    assert "codec_id" in refused.stderr and "still serving acoustic (coarse_transformer coarse-reloaded-v2)" in refused.stderr
    with grpc.insecure_channel(level.address) as channel:
        describe = levels_pb2_grpc.AcousticLevelStub(channel).Describe(contract_pb2.DescribeRequest(), timeout=30)
    assert describe.model_version == "coarse-reloaded-v2"
    for thread in threads:
        thread.join(600)

    failed = {key: result.stderr[-1500:] for key, (_, result, _) in songs.items() if result.returncode != 0}
    assert len(songs) == STREAMS * SONGS_EACH and not failed, failed
    versions = {key: {t["model_version"] for t in plan["trace"] if t["level"] == "acoustic"}
                for key, (_, _, plan) in songs.items()}
    later = [key for key, (began, _, _) in songs.items() if began > reloaded]
    assert later, "no song began after the reloads"
    assert all(versions[key] == {"coarse-reloaded-v2"} for key in later), versions
    assert any(old_version in v for v in versions.values()), versions  # the first chunks, before the reload
    # The level's latency is labelled by the model serving each call, the reloaded one included.
    served = scrape(level.ready["metrics_port"])["hiermusic_level_request_seconds"]
    assert any(s.name.endswith("_count") and s.labels["method"] == "GenerateCoarse"
               and s.labels["version"] == "coarse-reloaded-v2" and s.value > 0 for s in served)
    reloads = [e for e in log_lines(level.log_path) if e.get("event") in ("reloaded", "reload refused")]
    assert [(e["event"], e.get("new_version", e.get("serving"))) for e in reloads] == [
        ("reloaded", "coarse-reloaded-v2"), ("reload refused", "coarse-reloaded-v2")]
