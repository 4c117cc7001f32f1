"""The plan file: the `.plan.json` that `generate` writes beside its audio
(and `hiermusic plan` alone), which `generate --plan` reads back. One flat
JSON object: the plan's fields (PLAN_FIELDS, sections of SECTION_FIELDS),
each section's derived start_s, end_s and repeat_of (written for the reader,
ignored when read: bars, tempo and types decide them), and what generate
records about the render (RENDER_FIELDS: ignored when read, but for `seed`).
Any other field is refused by its JSON path, so a typo is never ignored.
Writer and reader are this one module, so they cannot drift (docs/plans.md)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from hiermusic.v1 import levels_pb2

DRUMS = {"unsaid": levels_pb2.DRUMS_UNSAID, "wanted": levels_pb2.DRUMS_WANTED, "unwanted": levels_pb2.DRUMS_UNWANTED}
DRUMS_NAMES = {value: name for name, value in DRUMS.items()}

PLAN_FIELDS = ("prompt", "duration_s", "tempo_bpm", "key", "mode", "drums", "extended_intro", "abrupt_ending",
               "sections")
SECTION_FIELDS = ("type", "bars", "seconds", "energy", "description", "drums", "modal_interchange", "displacement")
DERIVED_SECTION_FIELDS = ("start_s", "end_s", "repeat_of")
RENDER_FIELDS = ("seed", "requested_duration_s", "sample_rate", "audio", "joins", "models", "untrained_levels",
                 "timings", "peak", "request_id", "trace")

_NUMBER = "a number"
_WHOLE = "a whole number"
_TEXT = "a string"
_FLAG = "true or false"
_DRUMS_KIND = '"wanted", "unwanted" or "unsaid"'


class PlanFileError(ValueError):
    """A plan file that cannot be read; the message names the file and the field."""


def plan_record(plan: levels_pb2.PiecePlan, render: Mapping[str, object] | None = None) -> dict:
    """The file's JSON object for `plan`, then `render` (only RENDER_FIELDS).
    A partial plan writes what it states: unset numbers as 0, unset text as ""."""
    unknown = sorted(set(render or {}) - set(RENDER_FIELDS))
    if unknown:
        raise ValueError(f"not render fields of a plan file: {', '.join(unknown)}")
    return {
        "prompt": plan.prompt,
        "duration_s": round(plan.duration_s, 3),
        "tempo_bpm": plan.tempo_bpm,
        "key": plan.key,
        "mode": plan.mode,
        "drums": DRUMS_NAMES[plan.drums],
        "extended_intro": plan.extended_intro,
        "abrupt_ending": plan.abrupt_ending,
        "sections": [_section_record(s) for s in plan.sections],
        **(render or {}),
    }


def write_plan_file(path: Path, plan: levels_pb2.PiecePlan, render: Mapping[str, object] | None = None) -> dict:
    """Writes plan_record(plan, render) to `path`; returns it."""
    record = plan_record(plan, render)
    Path(path).write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_plan_file(path: Path) -> tuple[levels_pb2.PiecePlan, dict]:
    """The plan in a plan file (whole or partial, as a user may write it) and
    the render fields it holds. Only the file's shape is checked here; the
    values (section types, ranges) where the plan enters a level
    (services/semantic/plan_request.py). Raises PlanFileError."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise PlanFileError(f"{path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise PlanFileError(f"{path}: not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except UnicodeDecodeError as err:
        raise PlanFileError(f"{path}: not UTF-8 text: {err.reason}") from None
    try:
        return plan_from_record(data)
    except PlanFileError as err:
        raise PlanFileError(f"{path}: {err}") from None


def plan_from_record(data: object) -> tuple[levels_pb2.PiecePlan, dict]:
    """As read_plan_file, from the file's parsed JSON."""
    if not isinstance(data, dict):
        raise PlanFileError("expected a JSON object of plan fields")
    _known(data, "", PLAN_FIELDS, RENDER_FIELDS, "the render fields generate writes:")
    plan = levels_pb2.PiecePlan()
    for name in ("prompt", "key", "mode"):
        setattr(plan, name, _value(data, name, str, _TEXT, ""))
    for name in ("duration_s", "tempo_bpm"):
        setattr(plan, name, _value(data, name, float, _NUMBER, 0.0))
    plan.drums = _drums(data, "drums")
    plan.extended_intro = _value(data, "extended_intro", bool, _FLAG, False)
    plan.abrupt_ending = _value(data, "abrupt_ending", bool, _FLAG, False)
    sections = _value(data, "sections", list, "a list of sections", [])
    for i, item in enumerate(sections):
        plan.sections.append(_section(item, f"sections[{i}]"))
    extras = {name: data[name] for name in RENDER_FIELDS if name in data}
    if "seed" in extras:
        seed = extras["seed"]
        if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63):
            raise PlanFileError(f"seed: expected a whole number from 0, got {json.dumps(seed)}")
    return plan, extras


def _section_record(section: levels_pb2.Section) -> dict:
    record: dict = {"type": section.type, "start_s": round(section.start_s, 3), "end_s": round(section.end_s, 3)}
    if section.HasField("bars"):
        record["bars"] = section.bars
    if section.HasField("seconds"):
        record["seconds"] = section.seconds
    if section.HasField("energy"):
        record["energy"] = round(section.energy, 3)
    return {
        **record,
        "repeat_of": section.repeat_of,
        "description": section.description,
        "drums": DRUMS_NAMES[section.drums],
        "modal_interchange": section.modal_interchange,
        "displacement": section.displacement,
    }


def _section(item: object, where: str) -> levels_pb2.Section:
    if not isinstance(item, dict):
        raise PlanFileError(f"{where}: expected a JSON object of section fields")
    _known(item, where, SECTION_FIELDS, DERIVED_SECTION_FIELDS, "the derived")
    if item.get("type") is None:
        raise PlanFileError(f"{where}.type: missing; every section names its type")
    section = levels_pb2.Section(type=_value(item, "type", str, _TEXT, "", where))
    if (bars := _value(item, "bars", int, _WHOLE, None, where)) is not None:
        if not -2**31 <= bars < 2**31:
            raise PlanFileError(f"{where}.bars: {bars} is out of range")
        section.bars = bars
    for name in ("seconds", "energy"):
        if (value := _value(item, name, float, _NUMBER, None, where)) is not None:
            setattr(section, name, value)
    section.description = _value(item, "description", str, _TEXT, "", where)
    section.drums = _drums(item, "drums", where)
    section.modal_interchange = _value(item, "modal_interchange", bool, _FLAG, False, where)
    section.displacement = _value(item, "displacement", bool, _FLAG, False, where)
    return section


def _known(data: dict, where: str, fields: tuple[str, ...], ignored: tuple[str, ...], why: str) -> None:
    for key in data:
        if key not in fields and key not in ignored:
            raise PlanFileError(f"{_path(where, key)}: unknown field; known: {', '.join(fields)} "
                                f"(and {why} {', '.join(ignored)})")


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _value(data: dict, name: str, kind: type, kind_name: str, default, where: str = ""):
    """data[name] as `kind`; `default` where it is missing or null."""
    value = data.get(name)
    if value is None:
        return default
    path = _path(where, name)
    if isinstance(value, bool) != (kind is bool):
        raise PlanFileError(f"{path}: expected {kind_name}, got {json.dumps(value)}")
    if kind is float and isinstance(value, int):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind):
        raise PlanFileError(f"{path}: expected {kind_name}, got {json.dumps(value)}")
    return value


def _drums(data: dict, name: str, where: str = "") -> int:
    value = _value(data, name, str, _DRUMS_KIND, "unsaid", where)
    if value not in DRUMS:
        raise PlanFileError(f"{_path(where, name)}: expected {_DRUMS_KIND}, got {json.dumps(value)}")
    return DRUMS[value]
