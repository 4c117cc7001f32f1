"""The semantic service's PlanStream sends the very plan Plan sends, the form
first and the tokens after it, and refuses what Plan refuses."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from hiermusic.v1 import levels_pb2, levels_pb2_grpc, tensor_pb2
from hiermusic.services.common.tensors import decode

INT64 = tensor_pb2.DTYPE_INT64


@pytest.fixture(scope="module")
def semantic(mesh):
    levels, _ = mesh
    with grpc.insecure_channel(levels.processes["semantic"].address) as channel:
        yield levels_pb2_grpc.SemanticLevelStub(channel)


def test_the_stream_is_the_plan_in_parts(semantic):
    request = levels_pb2.PlanRequest(prompt="a folk song in A minor, no drums", duration_s=9.0,
                                     sampling=levels_pb2.Sampling(seed=7))
    whole = semantic.Plan(request, timeout=120)
    parts = list(semantic.PlanStream(request, timeout=120))
    assert parts[0].HasField("form") and not any(p.HasField("form") for p in parts[1:])
    form = parts[0].form
    assert not form.HasField("semantic_tokens") and len(parts) > 2  # 113 frames come in blocks
    tokens = np.concatenate([decode(p.semantic_tokens, "t", INT64, [None]) for p in parts if p.HasField("semantic_tokens")])
    assert tokens.tolist() == decode(whole.semantic_tokens, "t", INT64, [None]).tolist()
    form.semantic_tokens.CopyFrom(whole.semantic_tokens)
    assert form == whole


def test_the_stream_refuses_bad_requests(semantic):
    with pytest.raises(grpc.RpcError) as info:
        list(semantic.PlanStream(levels_pb2.PlanRequest(prompt="jazz", duration_s=-1.0), timeout=60))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "duration_s" in info.value.details()
