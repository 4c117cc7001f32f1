from __future__ import annotations

from hiermusic.orchestrator.mesh import local_threads


def test_the_chunk_levels_share_the_cores_and_the_planner_takes_them_all() -> None:
    assert [local_threads(level, cores=2) for level in ("semantic", "acoustic", "temporal")] == [2, 1, 1]
    assert [local_threads(level, cores=16) for level in ("semantic", "acoustic", "temporal")] == [16, 8, 8]
    assert local_threads("temporal", replicas=2, cores=16) == 4  # replicas split their level's share
    assert local_threads("acoustic", replicas=3, cores=2) == 1  # never fewer than one
