"""The wheel a user builds from the repository: one import name, every
bundled weight file, and a `generate` that serves the trained models from
wherever the wheel is installed, not from this checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.integration.mesh_helpers import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the test environment already has the build backend,
    # and CI needs no index for it.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        cwd=REPO, check=True, capture_output=True, timeout=600,
    )
    (built,) = out.glob("hiermusic-*.whl")
    return built


def test_the_wheel_has_one_top_level_name_and_every_weight(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"hiermusic"}
    bundled = {p.name for p in (REPO / "weights").iterdir() if p.suffix in (".safetensors", ".json")}
    packed = {Path(n).name for n in names if n.startswith("hiermusic/weights/")}
    assert bundled and bundled <= packed, f"weights missing from the wheel: {sorted(bundled - packed)}"
    # Every package folder of the repository's rooms is in the wheel.
    for room in ("services", "corpus", "orchestrator", "evaluation", "cli"):
        for init in (REPO / room).rglob("__init__.py"):
            assert f"hiermusic/{init.relative_to(REPO)}" in names, f"{init.parent} is not packaged"


def test_generate_from_the_installed_wheel_serves_trained_models(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    # The wheel's files come first on the path, and the run starts outside
    # the checkout: the weights can only come from the installed package.
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = tmp_path / "song.wav"
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from hiermusic.cli.main import main; sys.exit(main())",
         "generate", "a quiet folk song", "--duration", "4", "--device", "cpu", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "UNTRAINED" not in result.stderr
    for level in ("semantic", "acoustic", "temporal"):
        assert f"  {level}" in result.stderr and "trained" in result.stderr
    plan = json.loads(out.with_suffix(".plan.json").read_text())
    assert plan["untrained_levels"] == []
    where = subprocess.run(
        [sys.executable, "-c", "import hiermusic.weights as w; print(w.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site)
