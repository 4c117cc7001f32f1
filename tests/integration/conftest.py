from __future__ import annotations

import pytest

from hiermusic.orchestrator.mesh import LevelLaunch
from hiermusic.services.common.limits import LEVELS
from tests.integration.mesh_helpers import Composer, start_levels


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    """Three real level services and a Composer (Ray scheduler) in front of them."""
    run_dir = tmp_path_factory.mktemp("mesh")
    levels = start_levels(run_dir, [LevelLaunch(level, device="cpu") for level in LEVELS])
    composer = None
    try:
        composer = Composer(run_dir / "composer", levels.addresses())
        yield levels, composer
    finally:
        if composer is not None:
            composer.stop()
        levels.stop()
