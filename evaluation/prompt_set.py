"""Prompts to evaluate with: text as a person would type it, a clip length, and
the attributes the text asks for, so a measurement can check the audio against
what was asked. One JSON object a line; every mistake is reported with its
file and line, since the files are written by hand."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hiermusic.corpus.song_spec import MOODS, STYLES
from hiermusic.services.common.limits import MAX_DURATION_S
from hiermusic.services.common.music import TEMPO_RANGE, key_index

STANDARD = Path(__file__).parent / "prompts" / "standard.jsonl"

# Evaluation asks only for what every measurement can tell apart; dorian and
# mixolydian are left to the planner.
EVAL_MODES = ("major", "minor")
# Words a person would use, not the corpus timbre names: measurements map them.
INSTRUMENTS = ("lead", "bass", "pad", "chords", "drums", "piano", "guitar", "strings", "bells", "organ", "synth")
STRUCTURE = ("bridge", "chorus", "intro", "outro", "solo", "extended intro", "abrupt ending", "repeated chorus")
_FIELDS = {"id", "prompt", "duration_s", "attributes"}


@dataclass(frozen=True)
class AskedAttributes:
    """What the prompt asks for; None or empty where it leaves the choice open."""
    tempo_bpm: float | None = None
    mode: str | None = None
    key: str | None = None  # tonic as the prompt spells it, e.g. "Bb", "F#"
    style: str | None = None
    mood: str | None = None
    instruments: tuple[str, ...] = ()
    drums: bool | None = None  # False: the prompt asks for no drums
    structure: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalPrompt:
    id: str
    prompt: str
    duration_s: float
    attributes: AskedAttributes


class PromptSetError(ValueError):
    """A prompt file that cannot be used; the message names the file and line."""


def load_prompts(path: Path | None = None, limit: int | None = None) -> list[EvalPrompt]:
    """Prompts of `path` (the bundled standard set by default) in file order;
    `limit` keeps the first N. The whole file is checked even with a limit, so
    a quick run never passes over a file a full run would reject."""
    path = Path(path) if path is not None else STANDARD
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    prompts: list[EvalPrompt] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            prompt = _parse_line(line)
        except (TypeError, ValueError) as exc:
            raise PromptSetError(f"{path}:{lineno}: {exc}") from exc
        if prompt.id in seen:
            raise PromptSetError(f"{path}:{lineno}: duplicate id {prompt.id!r} (first on line {seen[prompt.id]})")
        seen[prompt.id] = lineno
        prompts.append(prompt)
    if not prompts:
        raise PromptSetError(f"{path}: no prompts")
    return prompts[:limit]


def _parse_line(line: str) -> EvalPrompt:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        # Its own "line 1" would be the line within the line: give the column only.
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise TypeError(f"expected a JSON object, got {type(record).__name__}")
    unknown = set(record) - _FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; expected {sorted(_FIELDS)}")
    prompt_id = _string(record, "id")
    text = _string(record, "prompt")
    duration = record.get("duration_s")
    if not _is_number(duration) or not 0 < duration <= MAX_DURATION_S:
        raise ValueError(f"duration_s must be a number in (0, {MAX_DURATION_S:g}], got {duration!r}")
    attributes = record.get("attributes", {})
    if not isinstance(attributes, dict):
        raise TypeError(f"attributes must be an object, got {type(attributes).__name__}")
    return EvalPrompt(prompt_id, text, float(duration), _attributes(attributes))


def _attributes(raw: dict[str, Any]) -> AskedAttributes:
    unknown = set(raw) - set(AskedAttributes.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown attribute(s) {sorted(unknown)}; "
                         f"expected some of {list(AskedAttributes.__dataclass_fields__)}")
    tempo = raw.get("tempo_bpm")
    if tempo is not None:
        low, high = TEMPO_RANGE
        if not _is_number(tempo) or not low <= tempo <= high:
            raise ValueError(f"tempo_bpm must be a number in {low:g}..{high:g}, got {tempo!r}")
        tempo = float(tempo)
    key = raw.get("key")
    if key is not None:
        if not isinstance(key, str):
            raise ValueError(f"key must be a string such as 'F#', got {key!r}")
        key_index(key)  # its ValueError names the key and the valid spellings
    drums = raw.get("drums")
    if drums is not None and not isinstance(drums, bool):
        raise ValueError(f"drums must be true or false, got {drums!r}")
    return AskedAttributes(
        tempo_bpm=tempo,
        mode=_choice(raw, "mode", EVAL_MODES),
        key=key,
        style=_choice(raw, "style", STYLES),
        mood=_choice(raw, "mood", MOODS),
        instruments=_words(raw, "instruments", INSTRUMENTS),
        drums=drums,
        structure=_words(raw, "structure", STRUCTURE),
    )


def _string(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _choice(raw: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = raw.get(name)
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _words(raw: dict[str, Any], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = raw.get(name, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{name} must be a list of strings, got {values!r}")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {name} {unknown}; expected some of {', '.join(allowed)}")
    return tuple(values)


def _is_number(value: Any) -> bool:
    # bool is an int to Python, but `true` is no duration or tempo.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
