"""librosa reached only through services/common/librosa_cache.py, whose first
use in a process waits for any other process compiling into a cache not yet
noted warm, and skips the wait once one is; importing it never waits."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

from hiermusic.services.common.librosa_cache import cache_id, exclusive, lock_path

REPO = Path(__file__).resolve().parents[3]
GUARD = REPO / "services" / "common" / "librosa_cache.py"
IMPORT_IT = "from hiermusic.services.common.librosa_cache import librosa; print('imported', flush=True)"
USE_IT = IMPORT_IT.replace("print(", "librosa.show_versions; print(")  # warms, imports no numba code


def _imports_librosa(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "librosa" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "librosa":
            return True
    return False


def test_no_module_imports_librosa_past_the_guard() -> None:
    ours = [p for p in REPO.rglob("*.py") if not ({".venv", "build", ".git"} & set(p.relative_to(REPO).parts))]
    assert len(ours) > 100
    assert [str(p.relative_to(REPO)) for p in ours if p != GUARD and _imports_librosa(p)] == []
    assert _imports_librosa(GUARD)


def _start(env_cache: Path, code: str = USE_IT) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(env_cache)}
    return subprocess.Popen([sys.executable, "-W", "ignore", "-c", code], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def _note_warm(cache: Path, monkeypatch) -> None:
    """Notes `cache` warm as a process that had compiled into it would."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    with open(lock_path().with_suffix(".warm"), "a") as notes:
        notes.write(f"{cache_id()}\n")


def test_a_first_use_waits_for_the_process_warming_the_cache_and_then_finds_it_warm(tmp_path, monkeypatch) -> None:
    cache = tmp_path / "numba"
    cache.mkdir()
    with exclusive(lock_path()):  # as a process compiling into the cache would hold it
        process = _start(cache)
        time.sleep(3)  # the import and a first use take under a second with the lock free
        assert process.poll() is None, process.communicate()
        _note_warm(cache, monkeypatch)
    # Noted warm while it waited: it imports without compiling anything into the empty cache.
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "imported" in out
    assert not list(cache.rglob("*.nbi"))


def test_a_cache_noted_warm_is_not_waited_for(tmp_path, monkeypatch) -> None:
    cache = tmp_path / "numba"
    cache.mkdir()
    _note_warm(cache, monkeypatch)
    with exclusive(lock_path()):
        out, err = _start(cache).communicate(timeout=60)
    assert "imported" in out, err


def test_importing_it_or_probing_private_names_does_not_wait(tmp_path) -> None:
    """As pytest's collection probes every module global for fixture markers."""
    cache = tmp_path / "numba"
    probe = IMPORT_IT.replace("print(", "getattr(librosa, '_pytestfixturefunction', None); print(")
    with exclusive(lock_path()):
        out, err = _start(cache, probe).communicate(timeout=60)
    assert "imported" in out, err
    assert not cache.exists()


def test_a_new_cache_folder_is_not_taken_for_a_warm_one(tmp_path, monkeypatch) -> None:
    cache = tmp_path / "numba"
    cache.mkdir()
    _note_warm(cache, monkeypatch)
    noted = cache_id()
    cache.rmdir()
    assert cache_id() is None
    cache.mkdir()
    assert cache_id() not in (None, noted)
