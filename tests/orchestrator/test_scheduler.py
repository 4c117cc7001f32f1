from __future__ import annotations

import numpy as np
import pytest

from hiermusic.orchestrator.scheduler import SongError, plan_times
from hiermusic.v1 import levels_pb2
from hiermusic.services.common.tensors import encode


def test_plan_times_reads_the_beat_grid_and_refuses_a_broken_one():
    plan = levels_pb2.PiecePlan(beats=encode(np.array([0.0, 0.5, 1.0], np.float32)))
    assert plan_times(plan, "beats").tolist() == [0.0, 0.5, 1.0]
    assert plan_times(plan, "downbeats").size == 0  # a semantic level that plans no grid: no beats sent
    for bad in ([0.0, 0.5, 0.5], [1.0]):
        with pytest.raises(SongError, match="increasing"):
            plan_times(levels_pb2.PiecePlan(beats=encode(np.array(bad, np.float32))), "beats")
    with pytest.raises(SongError, match="bad downbeats"):
        plan_times(levels_pb2.PiecePlan(downbeats=encode(np.array([0, 1], np.int64))), "downbeats")
