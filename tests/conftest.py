"""How the suite is spread over pytest-xdist's workers (`-n 2` in
pyproject.toml): CI has two cores, and one test at a time CI took 1989 s
with the install; two at a time the suite takes about 20 minutes here
(docs/benchmarks.md).

The integration tests are one unit of work, run in order on one worker: each
starts meshes (services, a Composer, a private Ray) that use both cores, so
two at once only slow each other (measured: 20 min 39 s as two units against
19 min 59 s as one). They go first, being the longest unit. Every other
module is a unit of its own, so a module-scoped fixture (a trained tiny
model) is made once, not once per worker. (xdist's own `--dist loadgroup`
marks cannot group them under pytest 9: they rename node ids through an
attribute pytest 9 no longer reads.)
"""
from __future__ import annotations

from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

INTEGRATION = Path(__file__).parent / "integration"
INTEGRATION_IDS = "tests/integration/"


class IntegrationAsOneUnit(LoadScopeScheduling):
    """xdist's scope scheduling (a module per unit) with tests/integration as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return "integration" if nodeid.startswith(INTEGRATION_IDS) else nodeid.split("::")[0]


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> IntegrationAsOneUnit:
    return IntegrationAsOneUnit(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Stable: the order within each part is kept.
    items.sort(key=lambda item: INTEGRATION not in Path(item.path).parents)
