"""The layers of ARCHITECTURE.md §8, lowest first: protos; services/common;
corpus; each level (never importing another level); orchestrator;
evaluation; the command line. An import points down or stays in its room.
The package's folders are read from pyproject.toml, so a room is checked
wherever the install maps it; bench/ and tests/ may import any room, but only
through the one installed name."""
from __future__ import annotations

import ast
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Room:
    name: str
    layer: int


# A module is in the room of its longest prefix here.
ROOMS = {
    "hiermusic.v1": Room("v1", 0),
    "hiermusic.weights": Room("weights", 0),  # package data: the bundled checkpoints, no code
    "hiermusic.services.common": Room("services.common", 1),
    "hiermusic.corpus": Room("corpus", 2),
    "hiermusic.services.semantic": Room("services.semantic", 3),
    "hiermusic.services.acoustic": Room("services.acoustic", 3),
    "hiermusic.services.temporal": Room("services.temporal", 3),
    "hiermusic.orchestrator": Room("orchestrator", 4),
    "hiermusic.evaluation": Room("evaluation", 5),
    "hiermusic.cli": Room("cli", 6),
}
# Packages that only hold rooms: importing one reaches no room's code, and
# their own files import nothing of the package.
HOLDERS = ("hiermusic", "hiermusic.services")
# The top folders were once importable under their own names; an install now
# adds `hiermusic` alone, so these no longer import.
OLD_NAMES = frozenset({"services", "corpus", "orchestrator", "evaluation", "protos", "cli"})
FREE_FOLDERS = ("bench", "tests")


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # absolute dotted name, relative imports resolved
    absolute: bool  # written without leading dots


def package_dirs(root: Path) -> dict[str, str]:
    """pyproject.toml's [tool.setuptools.package-dir]: package -> folder."""
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def room_of(module: str) -> Room | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        room = ROOMS.get(".".join(parts[:n]))
        if room is not None:
            return room
    return None


def check_layers(root: Path, package_dir: Mapping[str, str], free_folders: tuple[str, ...] = FREE_FOLDERS) -> list[str]:
    """Every import in the package's folders that points up or sideways or
    names an old top-level name, and every old name imported under
    `free_folders`; one line each: file, line, the imported module, both rooms."""
    problems = []
    for package, folder in package_dir.items():
        for path in sorted((root / folder).rglob("*.py")):
            module = _module_of(package, path.relative_to(root / folder))
            problems += _room_problems(path.relative_to(root), module, _imports(path, module))
    for folder in free_folders:
        for path in sorted((root / folder).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            problems += [_old_name(path.relative_to(root), imp) for imp in _imports(path, module) if _is_old(imp)]
    return problems


def _module_of(package: str, relative: Path) -> str:
    parts = relative.with_suffix("").parts
    return ".".join((package, *parts[:-1]) if parts[-1] == "__init__" else (package, *parts))


def _imports(path: Path, module: str) -> list[Import]:
    """Every import in the file, top-level or nested, as the module it reaches
    (once a line): `from a.b import c` reaches a.b.c when that is a room of
    its own (`from hiermusic.services import temporal`), else a.b."""
    is_package = path.name == "__init__.py"
    nodes = [n for n in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(n, (ast.Import, ast.ImportFrom))]
    found: dict[Import, None] = {}
    for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.Import):
            found.update((Import(node.lineno, alias.name, True), None) for alias in node.names)
            continue
        base = _resolve(node, module, is_package)
        for alias in node.names:
            whole = f"{base}.{alias.name}"
            reached = whole if alias.name != "*" and room_of(whole) != room_of(base) else base
            found[Import(node.lineno, reached, node.level == 0)] = None
    return list(found)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _is_old(imp: Import) -> bool:
    return imp.absolute and imp.module.split(".")[0] in OLD_NAMES


def _old_name(path: Path, imp: Import) -> str:
    return f"{path}:{imp.line}: imports {imp.module}, an old top-level name; import hiermusic.{imp.module}"


def _room_problems(path: Path, module: str, imports: list[Import]) -> list[str]:
    here = room_of(module)
    if here is None and module not in HOLDERS:
        return [f"{path}: module {module} is in no room; give its package one in tests/test_layers.py ROOMS"]
    problems = []
    for imp in imports:
        where = f"{path}:{imp.line}: imports {imp.module}"
        if _is_old(imp):
            problems.append(_old_name(path, imp))
            continue
        if imp.module.split(".")[0] != "hiermusic" or imp.module in HOLDERS:
            continue
        there = room_of(imp.module)
        if there is None:
            problems.append(f"{where}, which is in no room")
        elif here is None:
            problems.append(f"{where}: {module} only holds rooms and imports none of them")
        elif there.layer > here.layer:
            problems.append(f"{where}: {here.name} (layer {here.layer}) may not import {there.name} "
                            f"(layer {there.layer}), a higher layer")
        elif there.layer == here.layer and there != here:
            problems.append(f"{where}: {here.name} (layer {here.layer}) may not import {there.name} "
                            f"(layer {there.layer}), a room beside it")
    return problems


def test_imports_point_down_or_stay_in_their_room() -> None:
    problems = check_layers(REPO, package_dirs(REPO))
    assert not problems, "imports across the layers:\n" + "\n".join(problems)


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_check_finds_planted_upward_and_sideways_imports(tmp_path: Path) -> None:
    package_dir = package_dirs(REPO)
    _plant(tmp_path, {
        "protos/hiermusic/__init__.py": '"""holds the rooms"""\n',
        "services/__init__.py": "",
        "services/common/music.py": "import re\n\nfrom hiermusic.v1 import levels_pb2\n",
        "corpus/labels.py": "from hiermusic.services.common.music import KEYS\nfrom . import song_spec\n",
        "corpus/song_spec.py": (
            "from hiermusic.corpus.labels import SongLabels\n"
            "\n\ndef plan():\n"
            "    from hiermusic.orchestrator.scheduler import Scheduler\n"
            "    return Scheduler\n"
        ),
        "services/acoustic/coarse_training.py": (
            "import hiermusic.services.common.training\n"
            "from hiermusic.corpus import shards\n"
            "from hiermusic.services import temporal\n"
            "from ..temporal.codec import Codec\n"
        ),
        "evaluation/runner.py": "from hiermusic.cli import main\nimport corpus.labels\n",
        "cli/main.py": "from hiermusic.evaluation import runner\nfrom hiermusic.services.semantic import plugin\n",
        "bench/speed.py": "from hiermusic.orchestrator import scheduler\nfrom orchestrator import scheduler\n",
        "tests/test_fake.py": "from hiermusic.cli.main import main\nfrom tests.corpus import helpers\n",
    })
    assert sorted(check_layers(tmp_path, package_dir)) == sorted([
        "services/acoustic/coarse_training.py:3: imports hiermusic.services.temporal: services.acoustic (layer 3) "
        "may not import services.temporal (layer 3), a room beside it",
        "services/acoustic/coarse_training.py:4: imports hiermusic.services.temporal.codec: services.acoustic "
        "(layer 3) may not import services.temporal (layer 3), a room beside it",
        "corpus/song_spec.py:5: imports hiermusic.orchestrator.scheduler: corpus (layer 2) may not import "
        "orchestrator (layer 4), a higher layer",
        "evaluation/runner.py:1: imports hiermusic.cli: evaluation (layer 5) may not import cli (layer 6), "
        "a higher layer",
        "evaluation/runner.py:2: imports corpus.labels, an old top-level name; import hiermusic.corpus.labels",
        "bench/speed.py:2: imports orchestrator, an old top-level name; import hiermusic.orchestrator",
    ])
