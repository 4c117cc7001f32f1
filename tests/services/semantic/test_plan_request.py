"""A plan sent up with a request: every field it may state is checked, each
refusal naming the field; what it states reaches the planner as stated."""
from __future__ import annotations

import math
import re

import pytest

from hiermusic.services.common.limits import MAX_PROMPT_CHARS
from hiermusic.services.semantic.form_request import SectionRequest
from hiermusic.services.semantic.plan_request import (
    MAX_BARS,
    MAX_SECTIONS,
    AskedPlan,
    PlanError,
    asked_piece,
    asked_plan,
    stated_duration,
)
from hiermusic.v1 import levels_pb2

S = levels_pb2.Section


def _plan(*sections: S, **fields) -> levels_pb2.PiecePlan:
    return levels_pb2.PiecePlan(sections=sections, **fields)


@pytest.mark.parametrize(("plan", "message"), [
    (_plan(S(type="verse"), S(type="verse"), S(type="drop")),
     'plan.sections[2].type: unknown section type "drop"; '
     'known: intro, verse, pre-chorus, chorus, bridge, solo, outro'),
    (_plan(S()), 'plan.sections[0].type: unknown section type ""'),
    (_plan(S(type="verse"), S(type="chorus", bars=0)),
     "plan.sections[1].bars: must be at least 1 and at most 750, got 0"),
    (_plan(S(type="verse", bars=MAX_BARS + 1)), f"plan.sections[0].bars: must be at least 1 and at most {MAX_BARS},"),
    (_plan(tempo_bpm=400), "plan.tempo_bpm: 400 is outside 30..300 bpm"),
    (_plan(tempo_bpm=-90), "plan.tempo_bpm: -90 is outside 30..300 bpm"),
    (_plan(tempo_bpm=math.nan), "plan.tempo_bpm: nan is outside"),
    (_plan(key="H"), "plan.key: unknown key 'H'"),
    (_plan(mode="lydian"), 'plan.mode: unknown mode "lydian"; known: major, minor, dorian, mixolydian'),
    (_plan(*[S(type="verse")] * 3, S(type="chorus", energy=1.5)), "plan.sections[3].energy: must be in 0..1, got 1.5"),
    (_plan(S(type="verse", energy=-0.1)), "plan.sections[0].energy: must be in 0..1"),
    (_plan(S(type="verse", energy=math.nan)), "plan.sections[0].energy: must be in 0..1, got nan"),
    (_plan(S(type="verse", seconds=0), tempo_bpm=120), "plan.sections[0].seconds: must be more than 0"),
    (_plan(S(type="verse", seconds=math.inf), tempo_bpm=120), "plan.sections[0].seconds: must be more than 0"),
    (_plan(S(type="verse", seconds=20)), "plan.sections[0].seconds: needs plan.tempo_bpm to be turned into bars"),
    (_plan(S(type="verse"), S(type="chorus", bars=8, seconds=20), tempo_bpm=120),
     "plan.sections[1]: bars 8 and seconds 20 disagree at 120 bpm (20 s is 10 bars)"),
    (_plan(duration_s=-5), "plan.duration_s -5.0: expected 1 to 600 seconds"),
    (_plan(duration_s=601), "plan.duration_s 601.0"),
    (_plan(duration_s=math.nan), "plan.duration_s nan"),
    (_plan(*[S(type="verse", bars=4)] * 6, S(type="chorus", bars=7), S(type="outro", bars=4), tempo_bpm=120,
           duration_s=60), "plan.sections[7]: starts at 62.0 s, past plan.duration_s 60 s"),
    (_plan(S(type="verse", bars=8), S(type="chorus", bars=8), S(type="outro", bars=4), tempo_bpm=120, duration_s=32),
     "plan.sections[2]: starts at 32.0 s, past plan.duration_s 32 s"),
    (_plan(*[S(type="verse", bars=400)] * 2), f"plan.sections: 800 bars in all; a piece has at most {MAX_BARS}"),
    (_plan(*[S(type="verse", bars=100)] * 4, tempo_bpm=60),
     "plan.sections: 1600.0 s at 60 bpm; a piece is at most 600 s"),
    (_plan(*[S(type="verse")] * (MAX_SECTIONS + 1)),
     f"plan.sections: {MAX_SECTIONS + 1} sections; at most {MAX_SECTIONS}"),
    (_plan(S(type="verse", description="x" * (MAX_PROMPT_CHARS + 1))), "plan.sections[0].description: 2001 characters"),
    (_plan(prompt="x" * (MAX_PROMPT_CHARS + 1)), "plan.prompt: 2001 characters long; at most 2000"),
    (_plan(drums=7), "plan.drums: unknown value 7"),
    (_plan(S(type="verse"), S(type="verse", drums=5)), "plan.sections[1].drums: unknown value 5"),
])
def test_a_bad_plan_is_refused_naming_the_field(plan, message):
    with pytest.raises(PlanError, match=f"^{re.escape(message)}"):
        asked_plan(plan)


@pytest.mark.parametrize(("plan", "message"), [
    (_plan(S(type="v" * 10**6)), f'plan.sections[0].type: unknown section type "{"v" * 40}..."; known: intro'),
    (_plan(mode="m" * 10**6), f'plan.mode: unknown mode "{"m" * 40}..."; known: major'),
    (_plan(key="k" * 10**6), f"plan.key: unknown key '{'k' * 40}...'; use a note name"),
])
def test_a_string_of_megabytes_is_quoted_in_a_short_message(plan, message):
    # Quoted whole, it outgrew gRPC's trailers: the caller got RESOURCE_EXHAUSTED instead of the refusal.
    with pytest.raises(PlanError) as info:
        asked_plan(plan)
    assert str(info.value).startswith(message) and len(str(info.value)) < 200


def test_the_request_s_duration_wins_over_the_plan_s_and_is_named():
    plan = _plan(S(type="verse", bars=8), S(type="chorus", bars=8), tempo_bpm=120, duration_s=60)
    with pytest.raises(PlanError, match=r"^plan\.sections\[1\]: starts at 16\.0 s, past duration_s 10 s$"):
        asked_plan(plan, duration_s=10)
    assert asked_plan(plan, duration_s=20).duration_s == 60  # the plan's own, for the planner to weigh


def test_a_user_s_minimal_plan_is_taken_as_stated():
    asked = asked_plan(_plan(S(type="verse", bars=8), S(type="chorus"), duration_s=30))
    assert asked == AskedPlan(sections=(SectionRequest("verse", bars=8), SectionRequest("chorus")), duration_s=30)


def test_a_plan_without_sections_leaves_the_form_open():
    asked = asked_plan(_plan(tempo_bpm=96, key="b flat", mode=" Dorian ", drums=levels_pb2.DRUMS_UNWANTED,
                             abrupt_ending=True))
    assert asked == AskedPlan(tempo_bpm=96, key="Bb", mode="dorian", drums=False, abrupt_ending=True)


def test_every_section_field_reaches_the_planner():
    section = S(type="bridge", bars=4, energy=0.25, description=" quiet piano, no drums ",
                drums=levels_pb2.DRUMS_UNWANTED, modal_interchange=True, displacement=True,
                start_s=99.0, end_s=3.0, repeat_of=7)  # derived: ignored
    asked = asked_plan(_plan(section, S(type="chorus", drums=levels_pb2.DRUMS_WANTED), extended_intro=True))
    assert asked.sections == (
        SectionRequest("bridge", "quiet piano, no drums", 0.25, False, 4, modal_interchange=True, displacement=True),
        SectionRequest("chorus", drums=True),
    )
    assert asked.extended_intro and not asked.abrupt_ending


def test_seconds_become_whole_bars_at_the_plan_s_tempo():
    # 120 bpm: a bar is 2 s.
    asked = asked_plan(_plan(S(type="intro", seconds=0.4), S(type="verse", seconds=15), S(type="chorus", seconds=16,
                                                                                              bars=8), tempo_bpm=120))
    assert [s.bars for s in asked.sections] == [1, 8, 8]


def test_the_piece_a_request_asks():
    plan = _plan(S(type="verse", bars=8), S(type="chorus", bars=8), prompt="folk in A", tempo_bpm=120)
    assert asked_piece("", 0.0, plan)[:2] == ("folk in A", 32.0)  # the plan's prompt; its sections' total
    assert asked_piece("jazz", 20.0, plan)[:2] == ("jazz", 20.0)  # the request's own over the plan's
    no_tempo = _plan(S(type="verse", bars=8), prompt="folk")
    assert asked_piece("", 0.0, no_tempo)[1] is None  # only the planner's tempo tells
    assert asked_piece("", 0.0, _plan(prompt="folk", duration_s=12))[1] == 12
    assert asked_piece("jazz", 9.0, None) == ("jazz", 9.0, None)


@pytest.mark.parametrize(("prompt", "duration", "plan", "message"), [
    ("", 10.0, None, "prompt is empty; describe the music to make"),
    ("", 10.0, _plan(duration_s=10), "prompt (and plan.prompt) is empty"),
    ("jazz", 0.0, None, "duration_s 0.0: expected 1 to 600"),
    ("jazz", -1.0, _plan(duration_s=10), "duration_s -1.0: expected 1 to 600"),
    ("jazz", 0.0, _plan(S(type="verse", bars=8), S(type="chorus")), "duration_s: missing; give it, or a plan with"),
    ("jazz", 0.0, _plan(tempo_bpm=120), "duration_s: missing"),
])
def test_a_piece_without_words_or_length_is_refused(prompt, duration, plan, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        asked_piece(prompt, duration, plan)


def test_the_stated_duration():
    assert stated_duration(AskedPlan(duration_s=42)) == 42
    assert stated_duration(AskedPlan(sections=(SectionRequest("verse", bars=8),) * 2, tempo_bpm=96)) == 40
    assert stated_duration(AskedPlan(sections=(SectionRequest("verse", bars=8),), tempo_bpm=None)) is None
    assert stated_duration(AskedPlan(sections=(SectionRequest("verse"),), tempo_bpm=96)) is None
