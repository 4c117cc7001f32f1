"""The server recipe on a real level process: health, reflection, the bound on
concurrent RPCs, and a graceful drain on SIGTERM."""
from __future__ import annotations

import signal
import threading

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context
from hiermusic.orchestrator.mesh import LevelLaunch, LocalMesh
from hiermusic.v1 import levels_pb2, levels_pb2_grpc
from hiermusic.services.common.contract import TokenSpaceConfig
from tests.integration.mesh_helpers import scrape, wait_for

FRAMES = 500  # a request long enough to be in flight while the test acts


def _request() -> levels_pb2.CoarseRequest:
    space, rng = TokenSpaceConfig(), np.random.default_rng(0)
    plan = PlanArrays(
        semantic_tokens=rng.integers(0, 512, 120), frame_sections=np.zeros(120, dtype=np.int64),
        section_embeddings=rng.standard_normal((1, 256)).astype(np.float32),
        section_energy=np.array([0.5], dtype=np.float32), text_embedding=np.zeros(256, dtype=np.float32),
    )
    return levels_pb2.CoarseRequest(context=chunk_context(plan, Chunk(0, 0, FRAMES, 0), space, 1.0))


@pytest.fixture()
def acoustic(tmp_path):
    mesh = LocalMesh(tmp_path, [LevelLaunch("acoustic", device="cpu", threads=1,
                                            extra=["--max-queue", "0", "--drain-s", "60"])])
    mesh.start()
    try:
        mesh.wait_ready()
        yield mesh.processes["acoustic"]
    finally:
        mesh.stop()


def _in_flight(metrics_port: int) -> float:
    samples = scrape(metrics_port).get("hiermusic_level_in_flight", [])
    return sum(s.value for s in samples if s.labels.get("level") == "acoustic")


def _in_background(stub, request):
    result = {}

    def run():
        try:
            result["response"] = stub.GenerateCoarse(request, timeout=120)
        except grpc.RpcError as err:
            result["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _start_first(stub, metrics_port: int):
    """Starts the long RPC and waits until the service reports it in flight. The
    server may still count the health or reflection call for a moment after it
    answered; a first RPC turned away for that is sent again."""
    for _ in range(20):
        thread, result = _in_background(stub, _request())
        wait_for(lambda: _in_flight(metrics_port) == 1 or not thread.is_alive(), 60, "first RPC in flight")
        if thread.is_alive():
            return thread, result
        error = result.get("error")
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, \
            f"the first RPC ended before the test could act: {result}"
    raise AssertionError("the service kept turning the first RPC away")


def test_health_reflection_bound_and_drain(acoustic):
    channel = grpc.insecure_channel(acoustic.address)
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="hiermusic.v1.AcousticLevel"), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    # Read the reflection stream to its end so it no longer holds the one RPC slot.
    listing, = list(reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
    names = {s.name for s in listing.list_services_response.service}
    assert {"hiermusic.v1.AcousticLevel", "hiermusic.v1.ModelControl", "grpc.health.v1.Health"} <= names

    stub = levels_pb2_grpc.AcousticLevelStub(channel)
    thread, first = _start_first(stub, acoustic.ready["metrics_port"])
    # One RPC is the configured bound: a second one is turned away, not queued.
    with pytest.raises(grpc.RpcError) as info:
        stub.GenerateCoarse(_request(), timeout=120)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    # SIGTERM while the first is in flight: it still completes, then the process exits cleanly.
    acoustic.process.send_signal(signal.SIGTERM)
    thread.join(120)
    assert "response" in first, first.get("error")
    assert list(first["response"].coarse_tokens.shape) == [2, FRAMES]
    assert acoustic.process.wait(60) == 0
    log = acoustic.log_path.read_text()
    assert '"event": "draining"' in log and '"event": "stopped"' in log
    channel.close()
