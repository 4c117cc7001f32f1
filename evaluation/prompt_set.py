"""Prompts to evaluate with: text as a person would type it, a clip length, and
the attributes the text asks for, so a measurement can check the audio against
what was asked. One JSON object a line; every mistake is reported with its
file and line, since the files are written by hand.

A line may also say what form the text asks for ("form": an AskedForm),
written by hand from the words, never by the planner's parser, so the check
against the returned plan can say no."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hiermusic.corpus.song_spec import MOODS, STYLES
from hiermusic.services.common.limits import MAX_DURATION_S
from hiermusic.services.common.music import SECTION_TYPES, TEMPO_RANGE, key_index

STANDARD = Path(__file__).parent / "prompts" / "standard.jsonl"

# Evaluation asks only for what every measurement can tell apart; dorian and
# mixolydian are left to the planner.
EVAL_MODES = ("major", "minor")
# Words a person would use, not the corpus timbre names: measurements map them.
INSTRUMENTS = ("lead", "bass", "pad", "chords", "drums", "piano", "guitar", "strings", "bells", "organ", "synth")
STRUCTURE = ("bridge", "chorus", "intro", "outro", "solo", "extended intro", "abrupt ending", "repeated chorus")
_FIELDS = {"id", "prompt", "duration_s", "attributes", "form"}


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
class AskedForm:
    """The form the prompt's words ask for; empty or False where they say
    nothing. Section types are SECTION_TYPES; a type named in loud, quiet,
    drums_in, drums_out, modal_interchange or displacement means every
    section of that type."""
    order: tuple[str, ...] = ()  # the whole form, exactly ("[verse] [chorus] ...", "intro, two solos, outro")
    counts: dict[str, int] = field(default_factory=dict)  # "two verses", "no bridge" (0)
    has: tuple[str, ...] = ()  # types named: at least one each
    ends_on: str | None = None  # "ends on the chorus"
    bridge_before_last_chorus: bool = False
    no_intro: bool = False
    extended_intro: bool = False  # the intro >= 1.5x the median of the other sections
    abrupt_ending: bool = False  # no outro; the piece stops at full level
    loud: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()
    drums_in: tuple[str, ...] = ()
    drums_out: tuple[str, ...] = ()
    modal_interchange: tuple[str, ...] = ()  # borrowed chords asked in these types
    displacement: tuple[str, ...] = ()  # accents off the beat asked in these types
    open_form: bool = False  # the text states no form at all: the planner's choice

    @property
    def asked(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    @property
    def structural(self) -> bool:
        """Whether it asks for sections, their order, count or place (what
        "the asked form honoured in the plan" counts)."""
        return any(getattr(self, name) for name in _STRUCTURAL)


_STRUCTURAL = ("order", "counts", "has", "ends_on", "bridge_before_last_chorus", "no_intro", "extended_intro",
               "abrupt_ending")
_SECTION_LISTS = ("order", "has", "loud", "quiet", "drums_in", "drums_out", "modal_interchange", "displacement")
_FLAGS = ("bridge_before_last_chorus", "no_intro", "extended_intro", "abrupt_ending", "open_form")


@dataclass(frozen=True)
class EvalPrompt:
    id: str
    prompt: str
    duration_s: float
    attributes: AskedAttributes
    form: AskedForm = AskedForm()


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
    form = record.get("form", {})
    if not isinstance(form, dict):
        raise TypeError(f"form must be an object, got {type(form).__name__}")
    return EvalPrompt(prompt_id, text, float(duration), _attributes(attributes), _form(form))


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


def _form(raw: dict[str, Any]) -> AskedForm:
    unknown = set(raw) - set(AskedForm.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown form field(s) {sorted(unknown)}; "
                         f"expected some of {list(AskedForm.__dataclass_fields__)}")
    lists = {name: _words(raw, name, SECTION_TYPES, dedupe=name != "order") for name in _SECTION_LISTS}
    flags = {}
    for name in _FLAGS:
        value = raw.get(name, False)
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        flags[name] = value
    counts = raw.get("counts", {})
    if not isinstance(counts, dict) or not all(_is_count(n) for n in counts.values()):
        raise ValueError(f"counts must map section types to whole numbers >= 0, got {counts!r}")
    unknown = [t for t in counts if t not in SECTION_TYPES]
    if unknown:
        raise ValueError(f"unknown counts {unknown}; expected some of {', '.join(SECTION_TYPES)}")
    form = AskedForm(**lists, **flags, counts=dict(counts), ends_on=_choice(raw, "ends_on", SECTION_TYPES))
    _consistent(form)
    return form


def _consistent(form: AskedForm) -> None:
    """A hand-written form that contradicts itself is a typo: refuse it by name."""
    from hiermusic.evaluation.form_check import bridge_before_last_chorus

    if form.open_form and form != AskedForm(open_form=True):
        raise ValueError("open_form states no form: it takes no other form field")
    for a, b in (("loud", "quiet"), ("drums_in", "drums_out")):
        both = set(getattr(form, a)) & set(getattr(form, b))
        if both:
            raise ValueError(f"{sorted(both)} in both {a} and {b}")
        if bool(getattr(form, a)) != bool(getattr(form, b)):
            raise ValueError(f"{a} and {b} come together: the measure compares one with the other")
    if form.no_intro and form.extended_intro:
        raise ValueError("no_intro contradicts extended_intro")
    needed = {t for name in ("has", "loud", "quiet", "drums_in", "drums_out", "modal_interchange", "displacement")
              for t in getattr(form, name)} | {t for t, n in form.counts.items() if n > 0}
    needed |= {"chorus", "bridge"} if form.bridge_before_last_chorus else set()
    needed |= {form.ends_on} if form.ends_on else set()
    needed |= {"intro"} if form.extended_intro else set()
    banned = {t for t, n in form.counts.items() if n == 0}
    banned |= {"intro"} if form.no_intro else set()
    banned |= {"outro"} if form.abrupt_ending else set()
    if needed & banned:
        raise ValueError(f"{sorted(needed & banned)} both asked for and ruled out")
    if not form.order:
        return
    order = form.order
    wrong = [t for t in needed if t not in order] + [t for t in banned if t in order]
    wrong += [f"{t} x{n}" for t, n in form.counts.items() if order.count(t) != n]
    if form.ends_on and order[-1] != form.ends_on:
        wrong.append(f"ends_on {form.ends_on}")
    if form.extended_intro and order[0] != "intro":
        wrong.append("extended_intro without an intro first")
    if form.bridge_before_last_chorus and not bridge_before_last_chorus(order):
        wrong.append("bridge_before_last_chorus")
    if wrong:
        raise ValueError(f"order {list(order)} contradicts {', '.join(sorted(wrong))}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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


def _words(raw: dict[str, Any], name: str, allowed: tuple[str, ...], dedupe: bool = False) -> tuple[str, ...]:
    values = raw.get(name, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{name} must be a list of strings, got {values!r}")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {name} {unknown}; expected some of {', '.join(allowed)}")
    if dedupe and len(set(values)) < len(values):
        raise ValueError(f"{name} names a type twice: {values!r}")
    return tuple(values)


def _is_number(value: Any) -> bool:
    # bool is an int to Python, but `true` is no duration or tempo.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
