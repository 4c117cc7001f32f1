"""The user's own recordings: a JSONL manifest of WAV/FLAC files, one row
each: {"path": ..., "caption": ..., "sections": [{"type", "start_s", "end_s"}]}
(sections optional; relative paths are relative to the manifest's directory).
Every row is checked on reading, audio included, so a bad row is reported with
its line number and skipped while every good row is still used."""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from hiermusic.corpus.labels import SectionLabel, SongLabels
from hiermusic.corpus.performance import SAMPLE_RATE
from hiermusic.services.common.librosa_cache import librosa

END_SLACK_S = 0.5  # a section may end this far past the audio (rounded timings)
_PROBE_FRAMES = 1024  # read this much at the end of a file to catch truncation


@dataclass(frozen=True)
class UserSection:
    type: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class UserItem:
    path: Path  # absolute
    caption: str
    duration_s: float  # as soundfile reports it when the manifest was read
    sections: tuple[UserSection, ...] = ()
    line: int = 0  # manifest line, for messages

    @property
    def song_id(self) -> str:
        """Stable for a file: its name plus a hash of its absolute path."""
        digest = hashlib.sha1(str(self.path).encode()).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.path.stem).strip("-").lower() or "audio"
        return f"user-{slug}-{digest}"


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based line of the manifest
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class _BadRow(ValueError):
    pass


def read_manifest(path: Path) -> tuple[list[UserItem], list[RowError]]:
    """Good rows as UserItems and bad rows as RowErrors, in manifest order.
    Blank lines are ignored. A missing manifest raises FileNotFoundError."""
    path = Path(path)
    items: list[UserItem] = []
    errors: list[RowError] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(_parse_row(line, path.parent, number))
        except _BadRow as err:
            errors.append(RowError(number, str(err)))
    return items, errors


def _parse_row(line: str, base: Path, number: int) -> UserItem:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise _BadRow(f"invalid JSON: {err.msg} at column {err.colno}") from err
    if not isinstance(row, dict):
        raise _BadRow(f"a row must be a JSON object, not {type(row).__name__}")
    if not isinstance(row.get("path"), str) or not row["path"].strip():
        raise _BadRow('missing "path" (a non-empty string)')
    caption = row.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise _BadRow('missing or empty "caption"')
    audio = (base / row["path"]).resolve()
    if not audio.is_file():
        raise _BadRow(f"file does not exist: {audio}")
    duration = _probe(audio)
    sections = _sections(row.get("sections"), duration)
    return UserItem(audio, caption.strip(), duration, sections, number)


def _probe(audio: Path) -> float:
    """Duration in seconds, once the header, the last frames and (for WAV)
    the declared data size show the file is whole."""
    try:
        with sf.SoundFile(audio) as f:
            frames, rate = f.frames, f.samplerate
            f.seek(max(0, frames - _PROBE_FRAMES))
            tail = len(f.read(_PROBE_FRAMES))
    except (sf.SoundFileError, RuntimeError) as err:
        raise _BadRow(f"unreadable audio: {audio}: {err}") from err
    if frames <= 0:
        raise _BadRow(f"unreadable audio: {audio} has no samples")
    missing = _wav_shortfall(audio)
    if tail == 0 or missing:
        raise _BadRow(f"unreadable audio: {audio} is truncated" + (f" ({missing} bytes missing)" if missing else ""))
    return frames / rate


def _wav_shortfall(audio: Path) -> int:
    """Bytes of sound a WAV header declares past the end of the file:
    libsndfile quietly plays a cut-short WAV as a shorter one."""
    size = audio.stat().st_size
    with open(audio, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        position = 12
        while position + 8 <= size:
            f.seek(position)
            chunk, length = f.read(4), int.from_bytes(f.read(4), "little")
            if chunk == b"data":
                streamed = length in (0, 0xFFFFFFFF)  # written before its length was known
                return 0 if streamed else max(0, position + 8 + length - size)
            position += 8 + length + (length & 1)
    return 0


def _sections(raw: object, duration: float) -> tuple[UserSection, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _BadRow('bad sections: "sections" must be a list')
    sections = []
    for i, entry in enumerate(raw):
        where = f"bad sections: sections[{i}]"
        if not isinstance(entry, dict):
            raise _BadRow(f"{where} must be an object with type, start_s and end_s")
        kind, start, end = entry.get("type"), entry.get("start_s"), entry.get("end_s")
        if not isinstance(kind, str) or not kind.strip():
            raise _BadRow(f'{where} needs a non-empty "type"')
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (start, end)):
            raise _BadRow(f'{where} needs numeric "start_s" and "end_s"')
        if not 0 <= start < end:
            raise _BadRow(f"{where}: start_s {start} must be >= 0 and before end_s {end}")
        if end > duration + END_SLACK_S:
            raise _BadRow(f"{where}: end_s {end} is past the end of the audio ({duration:.2f} s)")
        if sections and start < sections[-1].end_s - 1e-6:
            raise _BadRow(f"{where} starts at {start}, before the previous section ends ({sections[-1].end_s})")
        sections.append(UserSection(kind.strip(), float(start), min(float(end), duration)))
    return tuple(sections)


def load_audio(item: UserItem) -> np.ndarray:
    """The file as float32 mono at SAMPLE_RATE: channels averaged, then
    resampled (soxr)."""
    audio, rate = sf.read(item.path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


def labels_for(item: UserItem, duration_s: float) -> SongLabels:
    """Labels carry what the row gives. Section bars and energy are unknown
    for user audio and are stored as 0 and -1; a later section with the same
    type as an earlier one is marked as its repeat."""
    first: dict[str, int] = {}
    sections = []
    for s in item.sections:
        if s.start_s >= duration_s:
            continue
        sections.append(SectionLabel(s.type, s.start_s, min(s.end_s, duration_s), bars=0, energy=-1.0,
                                     repeat_of=first.get(s.type, -1)))
        first.setdefault(s.type, len(sections) - 1)
    return SongLabels(
        song_id=item.song_id, source="user", caption=item.caption, duration_s=round(duration_s, 4),
        sections=sections, meta={"path": str(item.path), "manifest_line": str(item.line)},
    )
