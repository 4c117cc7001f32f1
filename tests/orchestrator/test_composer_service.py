from __future__ import annotations

import grpc
import pytest

from hiermusic.orchestrator.composer_service import song_status, validate_request
from hiermusic.v1 import composer_pb2


@pytest.mark.parametrize("message, code", [
    ("semantic level at 127.0.0.1:1 failed on PlanStream after 0 part(s): INVALID_ARGUMENT: plan.sections[2]: ...",
     grpc.StatusCode.INVALID_ARGUMENT),
    ("acoustic level at 127.0.0.1:1 failed on chunk 5: UNAVAILABLE: failed to connect", grpc.StatusCode.UNAVAILABLE),
    ("temporal level at 127.0.0.1:1 failed on chunk 2: DEADLINE_EXCEEDED: Deadline Exceeded",
     grpc.StatusCode.DEADLINE_EXCEEDED),
    ("acoustic level at 127.0.0.1:1 failed on chunk 0: RESOURCE_EXHAUSTED: Concurrent RPC limit exceeded!",
     grpc.StatusCode.RESOURCE_EXHAUSTED),
    # A chunk level refusing what the scheduler built is not the caller's doing.
    ("acoustic level at 127.0.0.1:1 failed on chunk 0: INVALID_ARGUMENT: context.semantic_tokens: shape",
     grpc.StatusCode.INTERNAL),
])
def test_a_failed_song_keeps_its_level_s_meaning(message, code):
    assert song_status(message) == code


@pytest.mark.parametrize("fields, named", [({"chunk_s": float("nan")}, "chunk_s"), ({"chunk_s": 0.04}, "chunk_s"),
                                           ({"chunk_s": float("inf")}, "chunk_s"), ({"overlap_s": -1.0}, "overlap_s"),
                                           ({"chunk_s": 4.0, "overlap_s": 4.0}, "overlap_s")])
def test_chunking_a_request_may_not_ask_for(fields, named):
    with pytest.raises(ValueError, match=named):
        validate_request(composer_pb2.ComposeRequest(prompt="a jazz trio", duration_s=10.0, **fields))


def test_chunking_a_request_may_ask_for():
    request = composer_pb2.ComposeRequest(prompt="a jazz trio", duration_s=10.0, chunk_s=4.0, overlap_s=0.5)
    assert validate_request(request) is request
