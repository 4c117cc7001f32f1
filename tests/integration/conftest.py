from __future__ import annotations

import pytest

from tests.integration.mesh_helpers import cpu_mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    """Three real level services and a Composer (Ray scheduler) in front of them."""
    with cpu_mesh(tmp_path_factory.mktemp("mesh")) as mesh:
        yield mesh
