"""librosa, with its numba code compiled into numba's on-disk cache by one
process at a time.

librosa compiles its numba ufuncs when the modules holding them are imported,
and a few functions at their first call, and saves each into numba's cache
(beside librosa's files, or NUMBA_CACHE_DIR). That cache is not safe for
processes that write it at once (numba#4807, numba#10128): on a fresh install,
four processes compiling together left one in four segfaulting, and the cache
they wrote crashed every later beat tracker. So every module of ours reaches
librosa through this one: its first use in a process takes an exclusive
lock, compiles (or, once the cache is warm, loads) all of librosa's numba code
the project calls, lets the next process in, and notes the cache as warm by
the identity of its folder (a reinstalled or emptied cache, or one that
another function was compiled into since, is warmed again). A process that
finds the note imports librosa as it would anyway. A cold cache takes a
minute to compile, loading a warm one all at once about 8 s.
"""
from __future__ import annotations

import fcntl
import importlib
import importlib.metadata
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# Where librosa keeps numba ufuncs, compiled as the module is imported.
UFUNC_MODULES = ("librosa.util.utils", "librosa.core.audio", "librosa.core.pitch", "librosa.beat")


def lock_path() -> Path:
    """One lock for a user's processes, whichever cache they write: a warm-up
    waits for another only while that one compiles or loads."""
    return Path(tempfile.gettempdir()) / f"hiermusic-numba-cache-{os.getuid()}.lock"


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_id() -> str | None:
    """The folder numba caches librosa's code in, by identity (device, inode
    and the time an entry last came or went: a folder emptied or made anew
    differs), with librosa's source time and the versions that wrote it; None
    before it exists."""
    package = Path(importlib.util.find_spec("librosa").origin).parent
    where = Path(os.environ.get("NUMBA_CACHE_DIR") or package / "__pycache__")
    try:
        folder = where.stat()
    except FileNotFoundError:
        return None
    # numba recompiles when a source file's time changes (a reinstall may leave the old cache folder).
    source = (package / "beat.py").stat().st_mtime_ns
    versions = f"librosa {importlib.metadata.version('librosa')} numba {importlib.metadata.version('numba')}"
    return f"{where} {folder.st_dev}:{folder.st_ino}:{folder.st_mtime_ns} {source} {versions}"


def _warm_ids() -> set[str]:
    path = lock_path().with_suffix(".warm")
    return set(path.read_text().splitlines()) if path.exists() else set()


def _compile_first_calls(librosa) -> None:
    """The numba functions compiled at first call, in both float types our
    code hands librosa: istft's overlap-add and window sum, the CQT's factors."""
    for dtype in (np.float32, np.float64):
        y = np.sin(np.linspace(0.0, 2000.0, 12000)).astype(dtype)
        librosa.istft(librosa.stft(y, n_fft=512), n_fft=512)
        librosa.cqt(y, sr=24000, hop_length=512, n_bins=12)


_warmed = False


def warm() -> None:
    """Compiles or loads librosa's numba code unless a process noted this
    cache warm; one process at a time; once a process."""
    global _warmed
    if _warmed:
        return
    if cache_id() not in _warm_ids():
        with exclusive(lock_path()):
            if cache_id() not in _warm_ids():  # else the process we waited for did it
                import librosa

                for name in UFUNC_MODULES:
                    importlib.import_module(name)
                _compile_first_calls(librosa)
                with open(lock_path().with_suffix(".warm"), "a") as notes:
                    notes.write(f"{cache_id()}\n")
    _warmed = True


class _Librosa:
    """librosa, warmed at first use rather than at import: a process that
    imports our audio measures without calling them (a test collection, a
    command's argument check) neither compiles nor waits for the lock."""

    def __getattr__(self, name: str):
        # Tools probe objects for private names (pytest looks for fixture
        # markers on every module global): those are not uses, and librosa's
        # own public names have no leading underscore.
        if name.startswith("_"):
            raise AttributeError(name)
        warm()
        import librosa

        return getattr(librosa, name)


librosa = _Librosa()

__all__ = ["librosa", "lock_path", "exclusive", "cache_id", "warm"]
