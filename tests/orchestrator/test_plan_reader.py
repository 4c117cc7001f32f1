from __future__ import annotations

import numpy as np
import pytest

from hiermusic.orchestrator.plan_reader import PlanReader, PlanStreamError
from hiermusic.v1 import levels_pb2
from hiermusic.services.common.tensors import encode

FRAMES = 10


def _form() -> levels_pb2.PlanPart:
    return levels_pb2.PlanPart(form=levels_pb2.PiecePlan(frame_sections=encode(np.zeros(FRAMES, np.int64))))


def _tokens(*values: int) -> levels_pb2.PlanPart:
    return levels_pb2.PlanPart(semantic_tokens=encode(np.array(values, np.int64)))


class Counted:
    """Parts as the level client yields them, counting how many were read."""

    def __init__(self, parts: list[levels_pb2.PlanPart]) -> None:
        self.parts, self.read = parts, 0

    def __iter__(self):
        for i, part in enumerate(self.parts):
            self.read += 1
            yield part.SerializeToString(), 0.1 * (i + 1)


def test_reads_only_as_far_as_asked():
    parts = Counted([_form(), _tokens(0, 1, 2, 3), _tokens(4, 5, 6), _tokens(7, 8, 9)])
    reader = PlanReader(iter(parts))
    assert reader.total == FRAMES and reader.tokens.size == 0 and parts.read == 1
    assert reader.until(2).tolist() == [0, 1, 2, 3] and parts.read == 2
    assert reader.until(5).tolist() == list(range(7)) and parts.read == 3
    assert reader.until(50).tolist() == list(range(10))  # no more than the piece has
    assert reader.finish().tolist() == list(range(10)) and reader.seconds == pytest.approx(0.4)


def test_the_first_part_may_carry_tokens_too():
    first = _form()
    first.semantic_tokens.CopyFrom(encode(np.arange(FRAMES, dtype=np.int64)))
    assert PlanReader(iter(Counted([first]))).finish().tolist() == list(range(FRAMES))


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "did not begin with the form"),
        ([_tokens(1, 2)], "did not begin with the form"),
        ([_form(), _tokens(*range(4))], "ended after 4 of 10"),
        ([_form(), _tokens(*range(8)), _tokens(*range(3))], "more than the 10"),
        ([_form(), _tokens(*range(10)), _tokens(1)], "more than the 10"),
        ([_form(), _tokens(1), _form()], "form twice"),
        ([_form(), levels_pb2.PlanPart(semantic_tokens=encode(np.zeros(3, np.float32)))], "bad semantic_tokens"),
    ],
)
def test_a_stream_that_breaks_the_contract_is_refused(parts, message):
    with pytest.raises(PlanStreamError, match=message):
        PlanReader(iter(Counted(parts))).finish()
