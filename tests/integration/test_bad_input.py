"""Bad input to each level service and to the Composer is refused with a
clear status, and the service goes on serving good requests."""
from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context
from hiermusic.services.common.limits import LEVELS, MAX_DURATION_S, MAX_MESSAGE_BYTES, MAX_PROMPT_CHARS
from hiermusic.orchestrator.song import space_of
from hiermusic.v1 import composer_pb2, composer_pb2_grpc, contract_pb2, levels_pb2, levels_pb2_grpc, tensor_pb2
from hiermusic.services.common.tensors import decode, encode
from tests.integration.mesh_helpers import run_cli

OVERSIZED = MAX_MESSAGE_BYTES + 6 * 1024 * 1024  # past the services' message limit
CHUNK = Chunk(index=0, start=0, end=100, overlap=0)


@pytest.fixture(scope="module")
def stubs(mesh):
    levels, _ = mesh
    channels = [grpc.insecure_channel(levels.processes[level].address, options=[
        ("grpc.max_send_message_length", 2 * OVERSIZED)]) for level in LEVELS]
    yield (levels_pb2_grpc.SemanticLevelStub(channels[0]), levels_pb2_grpc.AcousticLevelStub(channels[1]),
           levels_pb2_grpc.TemporalLevelStub(channels[2]), channels)
    for channel in channels:
        channel.close()


@pytest.fixture(scope="module")
def good(stubs):
    """Valid requests for each level, built from a real plan."""
    semantic, acoustic, temporal, _ = stubs
    plan_req = levels_pb2.PlanRequest(prompt="a jazz trio", duration_s=4.0)
    plan = semantic.Plan(plan_req, timeout=120)
    space = space_of(acoustic.Describe(contract_pb2.DescribeRequest(), timeout=30))
    arrays = PlanArrays(
        semantic_tokens=decode(plan.semantic_tokens, "t", tensor_pb2.DTYPE_INT64, [None]),
        frame_sections=decode(plan.frame_sections, "f", tensor_pb2.DTYPE_INT64, [None]),
        section_embeddings=decode(plan.section_embeddings, "s", tensor_pb2.DTYPE_FLOAT32, [None, None]),
        section_energy=np.array([s.energy for s in plan.sections], dtype=np.float32),
        text_embedding=decode(plan.text_embedding, "e", tensor_pb2.DTYPE_FLOAT32, [None]),
    )
    coarse_req = levels_pb2.CoarseRequest(context=chunk_context(arrays, CHUNK, space, 1.0))
    coarse = acoustic.GenerateCoarse(coarse_req, timeout=120)
    render_req = levels_pb2.RenderRequest(context=coarse_req.context, coarse_tokens=coarse.coarse_tokens)
    return plan_req, coarse_req, render_req


def _refused(call, request, code: grpc.StatusCode, *words: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=120)
    assert info.value.code() == code, info.value.details()
    for word in words:
        assert word in info.value.details(), info.value.details()


def _with(request, mutate):
    copy = type(request)()
    copy.CopyFrom(request)
    mutate(copy)
    return copy


def _serving(channel) -> bool:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def test_semantic_refuses_bad_requests(stubs, good):
    semantic, _, _, channels = stubs
    plan_req = good[0]
    bad = grpc.StatusCode.INVALID_ARGUMENT
    _refused(semantic.Plan, _with(plan_req, lambda r: setattr(r, "prompt", " ")), bad, "prompt")
    _refused(semantic.Plan, _with(plan_req, lambda r: setattr(r, "duration_s", float("nan"))), bad, "duration_s")
    _refused(semantic.Plan, _with(plan_req, lambda r: setattr(r, "duration_s", -1.0)), bad, "duration_s")
    _refused(semantic.Plan, _with(plan_req, lambda r: setattr(r.sampling, "temperature", float("nan"))), bad,
             "sampling.temperature")
    _refused(semantic.Plan, _with(plan_req, lambda r: setattr(r, "prompt", "x" * OVERSIZED)),
             grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert semantic.Plan(plan_req, timeout=120).sections
    assert _serving(channels[0])


def _tensor_cases(field_path: str) -> list:
    """(mutation, status, words) for one int64 token tensor field and the text embedding."""
    def set_tensor(path, value):
        def mutate(request):
            target = request
            *parents, leaf = path.split(".")
            for name in parents:
                target = getattr(target, name)
            getattr(target, leaf).CopyFrom(value)
        return mutate

    bad = grpc.StatusCode.INVALID_ARGUMENT
    return [
        (set_tensor(field_path, encode(np.zeros((2, 100), dtype=np.float32))), bad, [field_path, "dtype"]),
        (set_tensor(field_path, encode(np.zeros((3, 7), dtype=np.int64))), bad, [field_path, "shape"]),
        (set_tensor("context.text_embedding", encode(np.full(256, np.nan, dtype=np.float32))), bad,
         ["context.text_embedding", "NaN"]),
        (set_tensor("context.semantic_tokens", encode(np.zeros(0, dtype=np.int64))), bad,
         ["context.semantic_tokens", "empty"]),
        (set_tensor("context.text_embedding", encode(np.full(256, 3e38, dtype=np.float32))), bad,
         ["context.text_embedding", "magnitude"]),
        (lambda r: setattr(r.sampling, "temperature", float("nan")), bad, ["sampling.temperature"]),
        (lambda r: setattr(r.sampling, "temperature", 1e-45), bad, ["sampling.temperature"]),
        (set_tensor(field_path, tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT64, shape=[2, 100],
                                                  data=b"\0" * OVERSIZED)), grpc.StatusCode.RESOURCE_EXHAUSTED, []),
    ]


def test_acoustic_refuses_bad_tensors(stubs, good):
    _, acoustic, _, channels = stubs
    coarse_req = good[1]
    # On chunk 0 the prefix is optional; a bad one is still refused.
    for mutate, code, words in _tensor_cases("prefix_tokens"):
        _refused(acoustic.GenerateCoarse, _with(coarse_req, mutate), code, *words)
    assert acoustic.GenerateCoarse(coarse_req, timeout=120).coarse_tokens.shape == [2, 100]
    assert _serving(channels[1])


def test_temporal_refuses_bad_tensors(stubs, good):
    _, _, temporal, channels = stubs
    render_req = good[2]
    for mutate, code, words in _tensor_cases("coarse_tokens"):
        _refused(temporal.Render, _with(render_req, mutate), code, *words)
    response = temporal.Render(render_req, timeout=120)
    assert list(response.audio.shape) == [100 * 480]
    assert _serving(channels[2])


def test_a_bad_chunk_index_header_is_the_caller_s_mistake_on_every_rpc(stubs):
    for stub, channel in zip(stubs[:3], stubs[3]):
        with pytest.raises(grpc.RpcError) as info:
            stub.Describe(contract_pb2.DescribeRequest(), timeout=30, metadata=(("x-chunk-index", "1.5"),))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
        assert "x-chunk-index" in info.value.details()
        assert stub.Describe(contract_pb2.DescribeRequest(), timeout=30, metadata=(("x-chunk-index", "3"),)).plugin
        assert _serving(channel)


@pytest.mark.parametrize("level", LEVELS)
def test_unknown_plugin_is_a_startup_error(level):
    result = run_cli(["serve", level, "--plugin", "no_such_model", "--device", "cpu"], timeout=120)
    assert result.returncode != 0
    assert "no_such_model" in result.stderr and f"hiermusic.{level}" in result.stderr


def test_the_composer_refuses_bad_requests_at_its_door(mesh):
    _, composer = mesh
    good = composer_pb2.ComposeRequest(prompt="a jazz trio", duration_s=4.0)
    with grpc.insecure_channel(composer.address) as channel:
        compose = composer_pb2_grpc.ComposerStub(channel).Compose
        bad = grpc.StatusCode.INVALID_ARGUMENT
        for mutate, words in [
            (lambda r: setattr(r, "prompt", " "), ["prompt is empty"]),
            (lambda r: setattr(r, "prompt", "x" * (MAX_PROMPT_CHARS + 1)), ["prompt is", "characters long"]),
            (lambda r: setattr(r, "duration_s", MAX_DURATION_S + 1), ["duration_s", "1 to 600 seconds"]),
            (lambda r: setattr(r, "chunk_s", -1.0), ["chunk_s"]),
            (lambda r: setattr(r, "chunk_s", float("nan")), ["chunk_s"]),
            (lambda r: setattr(r, "chunk_s", 0.04), ["chunk_s", "0.5 to 30 seconds"]),
            (lambda r: setattr(r, "overlap_s", float("inf")), ["overlap_s"]),
        ]:
            _refused(lambda request, timeout: list(compose(request, timeout=timeout)), _with(good, mutate), bad, *words)
