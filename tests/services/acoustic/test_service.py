"""The acoustic service, with the bundled weights, given a thematic memory:
it checks the memory before the model sees it (INVALID_ARGUMENT naming the
field), says what it received, and, its weights predating the memory, writes
the very codes it writes without one."""
from __future__ import annotations

import grpc
import numpy as np
import pytest
import torch

from hiermusic.orchestrator.song import space_of
from hiermusic.services.acoustic.plugin import CoarseTransformerPlugin
from hiermusic.services.acoustic.service import add_to_server
from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context, max_semantic_tokens
from hiermusic.services.common.tensors import decode, encode
from hiermusic.v1 import contract_pb2, levels_pb2, levels_pb2_grpc, tensor_pb2
from tests.services.in_process import level_stub

CHUNK = Chunk(index=3, start=600, end=700, overlap=0)
BAD = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def stub():
    plugin = CoarseTransformerPlugin(bundled_checkpoint("acoustic"), torch.device("cpu"))
    with level_stub(add_to_server, plugin, levels_pb2_grpc.AcousticLevelStub) as stub:
        yield stub


@pytest.fixture(scope="module")
def info(stub) -> contract_pb2.ModelInfo:
    return stub.Describe(contract_pb2.DescribeRequest(), timeout=30)


@pytest.fixture(scope="module")
def plain(info) -> levels_pb2.CoarseRequest:
    """Chunk 3 (frames 600..699) of a made-up 20 s plan of two sections, without memory."""
    space = space_of(info)
    rng = np.random.default_rng(0)
    tokens = int(20 * space.semantic_rate)
    arrays = PlanArrays(
        semantic_tokens=rng.integers(0, space.semantic_vocab_size, tokens),
        frame_sections=np.repeat([0, 1], tokens // 2),
        section_embeddings=rng.standard_normal((2, space.embedding_dim)).astype(np.float32),
        section_energy=np.array([0.3, 0.8], np.float32),
        text_embedding=rng.standard_normal(space.embedding_dim).astype(np.float32),
    )
    return levels_pb2.CoarseRequest(context=chunk_context(arrays, CHUNK, space, 1.0),
                                    sampling=levels_pb2.Sampling(seed=11))


def with_memory(request: levels_pb2.CoarseRequest, codes: tensor_pb2.Tensor | None, of_section: int = 1,
                chunk_offset: int = 40) -> levels_pb2.CoarseRequest:
    copy = levels_pb2.CoarseRequest()
    copy.CopyFrom(request)
    copy.memory.of_section, copy.memory.chunk_offset = of_section, chunk_offset
    if codes is not None:
        copy.memory.coarse_tokens.CopyFrom(codes)
    return copy


def codes(frames: int, high: int = 1024) -> tensor_pb2.Tensor:
    return encode(np.random.default_rng(frames).integers(0, high, (2, frames)))


def test_the_level_declares_its_memory_bound(info):
    assert info.max_memory_frames == info.max_chunk_frames == 504


@pytest.mark.parametrize("memory, words", [
    (dict(codes=codes(505), chunk_offset=0), ["memory.coarse_tokens", "505 along dimension 1", "at most 504"]),
    (dict(codes=encode(np.zeros((3, 10), np.int64))), ["memory.coarse_tokens", "shape"]),
    (dict(codes=encode(np.zeros((2, 10), np.float32))), ["memory.coarse_tokens", "dtype"]),
    (dict(codes=codes(10, high=5000)), ["memory.coarse_tokens", "token ids"]),
    (dict(codes=None), ["memory.coarse_tokens", "missing"]),
    (dict(codes=codes(10), chunk_offset=95), ["memory.chunk_offset", "inside the chunk"]),
    (dict(codes=codes(10), of_section=-1), ["memory.of_section"]),
], ids=["too-long", "shape", "dtype", "ids", "missing", "offset", "section"])
def test_a_bad_memory_is_refused_naming_the_field(stub, plain, memory, words):
    with pytest.raises(grpc.RpcError) as refused:
        stub.GenerateCoarse(with_memory(plain, **memory), timeout=60)
    assert refused.value.code() == BAD, refused.value.details()
    for word in words:
        assert word in refused.value.details()


def test_a_memory_past_the_bound_is_refused_before_its_data_is_read(stub, plain):
    shape_only = tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT64, shape=[2, 100_000])  # no data at all
    with pytest.raises(grpc.RpcError) as refused:
        stub.GenerateCoarse(with_memory(plain, shape_only, chunk_offset=0), timeout=60)
    assert refused.value.code() == BAD and "at most 504" in refused.value.details()


def test_the_bundled_weights_hear_a_memory_and_say_they_got_it(stub, plain):
    """The bundled model was trained with its thematic memory open: given a
    first occurrence's codes, the frames they align with take them up far
    more often than without (a trained return takes about two thirds of its
    first codebook from the memory in the corpus)."""
    without = stub.GenerateCoarse(plain, timeout=60)
    assert (without.memory_frames, without.memory_of_section) == (0, -1)
    # A first occurrence the model itself could have written: its own codes
    # for this chunk without memory, from the chunk's start, laid from frame 40.
    memory = encode(decode(without.coarse_tokens, "coarse", tensor_pb2.DTYPE_INT64, [2, None])[:, :60].copy())
    given = stub.GenerateCoarse(with_memory(plain, memory, of_section=1, chunk_offset=40), timeout=60)
    assert (given.memory_frames, given.memory_of_section) == (60, 1)
    remembered = decode(memory, "memory", tensor_pb2.DTYPE_INT64, [2, 60])

    def taken_up(response: levels_pb2.CoarseResponse) -> float:
        written = decode(response.coarse_tokens, "coarse", tensor_pb2.DTYPE_INT64, [2, None])
        return float((written[0, 40:100] == remembered[0]).mean())

    print(f"first codebook equal to the memory: {taken_up(given):.2f} with it, {taken_up(without):.2f} without")
    assert taken_up(given) > taken_up(without) + 0.2


def test_a_context_of_more_semantic_tokens_than_the_longest_chunk_needs_is_refused(stub, info, plain):
    """Issue 29: 100k tokens in one context held the level 9.7 s and took 0.66 GB; the bound
    follows from what the level declares (ModelInfo.max_chunk_frames) and the widest margin."""
    most = max_semantic_tokens(space_of(info), info.max_chunk_frames)
    for tokens, refused in ((most, False), (most + 1, True), (100_000, True)):
        request = levels_pb2.CoarseRequest()
        request.CopyFrom(plain)
        request.context.semantic_tokens.CopyFrom(encode(np.zeros(tokens, np.int64)))
        request.context.frame_sections.CopyFrom(encode(np.zeros(tokens, np.int64)))
        if not refused:
            assert stub.GenerateCoarse(request, timeout=120).coarse_tokens.shape == [2, 100]
            continue
        with pytest.raises(grpc.RpcError) as refusal:
            stub.GenerateCoarse(request, timeout=120)
        assert refusal.value.code() == BAD
        assert refusal.value.details().startswith(f"context.semantic_tokens: {tokens} along dimension 0, at most {most}")
