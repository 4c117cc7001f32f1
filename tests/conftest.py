"""How the suite is spread over pytest-xdist's workers (`-n 2` in
pyproject.toml): CI has two cores, and one test at a time CI took 1989 s
with the install; two at a time the suite takes about 20 minutes here
(docs/benchmarks.md).

Work units, in this order (xdist's reordering by test count is off):
the integration modules that share the session's mesh, as one unit, so the
mesh starts once; then every other module, a unit each, so a module-scoped
fixture (a trained tiny model) is made once; the integration modules that
start meshes of their own come last, each a unit, so the worker that ends
its share first takes them while the other still runs the shared mesh's
tests, and two meshes rarely fight for the two cores. (xdist's own
`--dist loadgroup` marks cannot group under pytest 9: they rename node ids
through an attribute pytest 9 no longer reads.)
"""
from __future__ import annotations

from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

INTEGRATION_IDS = "tests/integration/"
SHARED_UNIT = "integration: the session's mesh"
# The modules whose tests take the `mesh` fixture of tests/integration/conftest.py.
SHARED_MESH = {f"{INTEGRATION_IDS}test_{name}.py" for name in (
    "bad_input", "bounded_work", "concurrency", "describe", "eval", "fixed_seed_audio", "fuzz", "long_form", "metrics",
    "plan_in_plan_out", "plan_stream", "rule_breaks", "swap", "thematic_memory")}


def _module(nodeid: str) -> str:
    return nodeid.split("::")[0]


def _rank(module: str) -> int:
    """0: the shared mesh's tests, 1: the rest of the suite, 2: integration with meshes of their own."""
    if module in SHARED_MESH:
        return 0
    return 2 if module.startswith(INTEGRATION_IDS) else 1


class SharedMeshFirst(LoadScopeScheduling):
    """xdist's scope scheduling: a module per unit, the shared mesh's modules as one."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        super().__init__(config, log)
        self.config.option.loadscopereorder = False  # the collection's order below is the queue's

    def _split_scope(self, nodeid: str) -> str:
        module = _module(nodeid)
        return SHARED_UNIT if module in SHARED_MESH else module


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> SharedMeshFirst:
    return SharedMeshFirst(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    strays = {_module(item.nodeid) for item in items
              if "mesh" in getattr(item, "fixturenames", ()) and _module(item.nodeid) not in SHARED_MESH}
    if strays:  # it would start a second shared mesh on the other worker
        raise pytest.UsageError(f"{', '.join(sorted(strays))} take the `mesh` fixture: add them to SHARED_MESH "
                                f"in {Path(__file__).name}")
    items.sort(key=lambda item: _rank(_module(item.nodeid)))  # stable: the order within each part is kept
