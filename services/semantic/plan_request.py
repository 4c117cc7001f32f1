"""A plan sent up with a request (PlanRequest.plan, ComposeRequest.plan),
whole or partial, as the planner reads it: what it states is kept, the rest is
planned. Checked field by field where a request enters (the semantic service,
the Composer, the command line), each error naming the field.

A section's `seconds` is turned into bars here, at the plan's tempo: a plan
that gives seconds must state plan.tempo_bpm (bars do not depend on it).
start_s, end_s and repeat_of are derived from bars, tempo and types, and are
ignored."""
from __future__ import annotations

import math
from dataclasses import dataclass

from hiermusic.services.common.limits import MAX_DURATION_S, MAX_PROMPT_CHARS, check_duration, check_prompt, clipped
from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES, TEMPO_RANGE, key_index
from hiermusic.services.semantic.form_request import SectionRequest
from hiermusic.services.semantic.planner import bar_seconds
from hiermusic.v1 import levels_pb2

# The planner's own bound (planner.py): 600 s at 300 bpm in 2-bar sections.
MAX_SECTIONS = 375
# No section is longer than the longest piece at the fastest tempo.
MAX_BARS = int(MAX_DURATION_S / bar_seconds(TEMPO_RANGE[1]))

_DRUMS = {levels_pb2.DRUMS_UNSAID: None, levels_pb2.DRUMS_WANTED: True, levels_pb2.DRUMS_UNWANTED: False}


class PlanError(ValueError):
    """A plan that cannot be taken as it is; the message names the field."""


@dataclass(frozen=True)
class AskedPlan:
    """None or empty where the plan leaves the choice to the planner."""
    sections: tuple[SectionRequest, ...] = ()  # the whole form in order; empty: the form is open
    tempo_bpm: float | None = None
    key: str | None = None
    mode: str | None = None
    drums: bool | None = None  # the piece's; a section's own drums are on its SectionRequest
    extended_intro: bool = False
    abrupt_ending: bool = False
    duration_s: float | None = None  # None: the request's, or the sections' total


def drums_value(drums: bool | None) -> int:
    """The plan's Drums value for what a prompt (or a song's labels) says."""
    if drums is None:
        return levels_pb2.DRUMS_UNSAID
    return levels_pb2.DRUMS_WANTED if drums else levels_pb2.DRUMS_UNWANTED


def asked_plan(message: levels_pb2.PiecePlan, duration_s: float = 0.0) -> AskedPlan:
    """The plan a request carries, checked. `duration_s` is the request's
    own (0: none), which wins over plan.duration_s. Raises PlanError."""
    if len(message.prompt) > MAX_PROMPT_CHARS:
        raise PlanError(f"plan.prompt: {len(message.prompt)} characters long; at most {MAX_PROMPT_CHARS}")
    tempo = _tempo(message.tempo_bpm)
    if len(message.sections) > MAX_SECTIONS:
        raise PlanError(f"plan.sections: {len(message.sections)} sections; at most {MAX_SECTIONS}")
    asked = AskedPlan(
        sections=tuple(_section(s, f"plan.sections[{i}]", tempo) for i, s in enumerate(message.sections)),
        tempo_bpm=tempo,
        key=_key(message.key),
        mode=_mode(message.mode),
        drums=_drums(message.drums, "plan.drums"),
        extended_intro=message.extended_intro,
        abrupt_ending=message.abrupt_ending,
        duration_s=_duration(message.duration_s),
    )
    _check_fit(asked, duration_s)
    return asked


def asked_piece(prompt: str, duration_s: float,
                plan: levels_pb2.PiecePlan | None) -> tuple[str, float | None, AskedPlan | None]:
    """What a request asks, checked: the prompt (the plan's where the
    request's is empty), the piece's duration as far as it is known before
    planning (the request's, else plan.duration_s, else the sections' total
    where the tempo and every section's bars are stated; None: only the
    planner's tempo tells) and the plan. Raises ValueError naming the field."""
    asked = asked_plan(plan, duration_s) if plan is not None else None
    prompt = prompt if prompt.strip() or plan is None else plan.prompt
    check_prompt(prompt, "prompt" if plan is None else "prompt (and plan.prompt)")
    if duration_s or plan is None:
        check_duration(duration_s)
        return prompt, duration_s, asked
    if asked is None or not (asked.duration_s or (asked.sections and all(s.bars for s in asked.sections))):
        raise ValueError("duration_s: missing; give it, or a plan with duration_s or every section's bars")
    return prompt, stated_duration(asked), asked


def stated_duration(asked: AskedPlan) -> float | None:
    """The piece's duration as the plan states it: its duration_s, else its
    sections' total where the tempo and every section's bars are given."""
    if asked.duration_s:
        return asked.duration_s
    if asked.tempo_bpm and asked.sections and all(s.bars for s in asked.sections):
        return sum(s.bars for s in asked.sections) * bar_seconds(asked.tempo_bpm)
    return None


def _section(section: levels_pb2.Section, name: str, tempo: float | None) -> SectionRequest:
    if section.type not in SECTION_TYPES:
        raise PlanError(f'{name}.type: unknown section type "{clipped(section.type)}"; '
                        f'known: {", ".join(SECTION_TYPES)}')
    bars = section.bars if section.HasField("bars") else None
    if bars is not None and not 1 <= bars <= MAX_BARS:
        raise PlanError(f"{name}.bars: must be at least 1 and at most {MAX_BARS}, got {bars}")
    if section.HasField("seconds"):
        bars = _seconds_as_bars(section.seconds, bars, name, tempo)
    energy = section.energy if section.HasField("energy") else None
    if energy is not None and not 0 <= energy <= 1:
        raise PlanError(f"{name}.energy: must be in 0..1, got {energy:g}")
    if len(section.description) > MAX_PROMPT_CHARS:
        raise PlanError(f"{name}.description: {len(section.description)} characters long; at most {MAX_PROMPT_CHARS}")
    return SectionRequest(
        type=section.type,
        description=section.description.strip(),
        energy=energy,
        drums=_drums(section.drums, f"{name}.drums"),
        bars=bars,
        modal_interchange=section.modal_interchange,
        displacement=section.displacement,
    )


def _seconds_as_bars(seconds: float, bars: int | None, name: str, tempo: float | None) -> int:
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_DURATION_S):
        raise PlanError(f"{name}.seconds: must be more than 0 and at most {MAX_DURATION_S:g}, got {seconds:g}")
    if tempo is None:
        raise PlanError(f"{name}.seconds: needs plan.tempo_bpm to be turned into bars; state the tempo, "
                        "or give bars instead")
    in_bars = max(1, round(seconds / bar_seconds(tempo)))
    if bars is not None and bars != in_bars:
        raise PlanError(f"{name}: bars {bars} and seconds {seconds:g} disagree at {tempo:g} bpm "
                        f"({seconds:g} s is {in_bars} bars); give one of them")
    return in_bars


def _check_fit(asked: AskedPlan, duration_s: float) -> None:
    """Sections that start past the piece's end, or a form too long for any
    piece, where the tempo and every bar are known here (else the planner
    finds it)."""
    if not asked.sections or not all(s.bars for s in asked.sections):
        return
    if sum(s.bars for s in asked.sections) > MAX_BARS:
        raise PlanError(f"plan.sections: {sum(s.bars for s in asked.sections)} bars in all; a piece has at "
                        f"most {MAX_BARS} (600 s at {TEMPO_RANGE[1]:g} bpm)")
    if asked.tempo_bpm is None:
        return
    bar_s = bar_seconds(asked.tempo_bpm)
    duration, which = (duration_s, "duration_s") if duration_s else (asked.duration_s, "plan.duration_s")
    start = 0.0
    for i, section in enumerate(asked.sections):
        if duration and start >= duration - 1e-6:
            raise PlanError(f"plan.sections[{i}]: starts at {start:.1f} s, past {which} {duration:g} s")
        start += section.bars * bar_s
    if not duration and start > MAX_DURATION_S:
        raise PlanError(f"plan.sections: {start:.1f} s at {asked.tempo_bpm:g} bpm; a piece is at most "
                        f"{MAX_DURATION_S:g} s")


def _tempo(tempo: float) -> float | None:
    if tempo == 0:
        return None
    low, high = TEMPO_RANGE
    if not low <= tempo <= high:
        raise PlanError(f"plan.tempo_bpm: {tempo:g} is outside {low:g}..{high:g} bpm (0: the planner's choice)")
    return tempo


def _key(key: str) -> str | None:
    if not key.strip():
        return None
    try:
        return KEYS[key_index(key)]
    except ValueError as err:
        raise PlanError(f"plan.key: {err}") from None


def _mode(mode: str) -> str | None:
    if not mode.strip():
        return None
    if mode.strip().lower() not in MODES:
        raise PlanError(f'plan.mode: unknown mode "{clipped(mode)}"; known: {", ".join(MODES)}')
    return mode.strip().lower()


def _drums(value: int, name: str) -> bool | None:
    if value not in _DRUMS:
        raise PlanError(f"{name}: unknown value {value}; expected DRUMS_UNSAID, DRUMS_WANTED or DRUMS_UNWANTED")
    return _DRUMS[value]


def _duration(duration_s: float) -> float | None:
    if duration_s == 0:
        return None
    try:
        check_duration(duration_s, "plan.duration_s")
    except ValueError as err:
        raise PlanError(str(err)) from None
    return duration_s
