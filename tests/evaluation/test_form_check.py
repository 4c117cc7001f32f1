"""The plan-level form checks on plans whose answer is known, each both ways."""
from __future__ import annotations

import pytest

from hiermusic.evaluation.form_check import (
    bridge_before_last_chorus,
    description_checks,
    extended_intro,
    form_checks,
    returns,
)
from hiermusic.evaluation.prompt_set import AskedForm


def _plan(*types: str, seconds: float | list[float] = 8.0, **fields: list) -> list[dict]:
    """Sections back to back; `fields` gives per-section values (drums, energy, ...)."""
    lengths = seconds if isinstance(seconds, list) else [seconds] * len(types)
    sections, start, first = [], 0.0, {}
    for i, (t, length) in enumerate(zip(types, lengths, strict=True)):
        section = {"type": t, "start_s": start, "end_s": start + length, "bars": 4, "energy": 0.5,
                   "repeat_of": first.setdefault(t, i)}
        section.update({k: v[i] for k, v in fields.items()})
        sections.append(section)
        start += length
    return sections


def _passed(form: AskedForm, sections: list[dict]) -> dict[str, bool]:
    return {c.name: c.passed for c in form_checks(form, sections)}


VCVC = ("verse", "chorus", "verse", "chorus")


def test_exact_order():
    form = AskedForm(order=VCVC)
    assert _passed(form, _plan(*VCVC)) == {"order": True}
    assert _passed(form, _plan("intro", *VCVC)) == {"order": False}
    assert _passed(form, _plan("verse", "chorus", "chorus", "verse")) == {"order": False}


def test_counts_has_and_last_section():
    form = AskedForm(counts={"verse": 2, "bridge": 0}, has=("chorus",), ends_on="chorus")
    assert _passed(form, _plan(*VCVC)) == {"counts": True, "has": True, "ends_on": True}
    assert _passed(form, _plan("verse", "chorus", "bridge", "verse", "chorus", "outro")) == {
        "counts": False, "has": True, "ends_on": False}
    assert _passed(form, _plan("verse", "verse", "verse"))["has"] is False


def test_bridge_before_the_last_chorus():
    assert bridge_before_last_chorus(("verse", "chorus", "bridge", "chorus", "outro"))
    assert bridge_before_last_chorus(("verse", "chorus", "bridge", "pre-chorus", "chorus"))
    assert not bridge_before_last_chorus(("verse", "bridge", "chorus", "verse", "chorus"))
    assert not bridge_before_last_chorus(("verse", "bridge"))
    form = AskedForm(bridge_before_last_chorus=True)
    assert _passed(form, _plan("verse", "chorus", "bridge", "chorus")) == {"bridge_before_last_chorus": True}
    assert _passed(form, _plan("verse", "chorus", "bridge", "verse", "chorus")) == {"bridge_before_last_chorus": False}


def test_no_intro_and_abrupt_ending():
    form = AskedForm(no_intro=True, abrupt_ending=True)
    assert _passed(form, _plan(*VCVC)) == {"no_intro": True, "abrupt_ending": True}
    assert _passed(form, _plan("intro", *VCVC, "outro")) == {"no_intro": False, "abrupt_ending": False}


def test_extended_intro_is_half_again_the_median_of_the_others():
    assert extended_intro(_plan("intro", *VCVC, seconds=[12.0, 8.0, 8.0, 8.0, 8.0])).passed  # 1.5x
    assert not extended_intro(_plan("intro", *VCVC, seconds=[11.0, 8.0, 8.0, 8.0, 8.0])).passed
    assert not extended_intro(_plan(*VCVC, seconds=[20.0, 8.0, 8.0, 8.0])).passed  # a long verse is no intro
    # The median, so one long section elsewhere does not hide a long intro.
    assert extended_intro(_plan("intro", *VCVC, seconds=[16.0, 8.0, 8.0, 8.0, 40.0])).passed


def test_returns_from_repeat_of_or_a_type_played_twice():
    assert returns(_plan(*VCVC)).passed
    # A plan that marks no repeats still returns when a type comes back...
    unmarked = [{**s, "repeat_of": -1} for s in _plan(*VCVC)]
    assert returns(unmarked).passed
    # ... and one whose types all differ does not.
    assert not returns(_plan("intro", "verse", "chorus", "bridge", "outro")).passed
    assert not returns([{**s, "repeat_of": i} for i, s in enumerate(_plan("verse", "chorus"))]).passed


def test_what_the_plan_carries_of_the_section_descriptions():
    form = AskedForm(loud=("chorus",), quiet=("verse",), drums_in=("chorus",), drums_out=("verse",),
                     modal_interchange=("chorus",))
    good = _plan(*VCVC, energy=[0.2, 0.85, 0.2, 0.85], drums=["unwanted", "wanted"] * 2,
                 modal_interchange=[False, True, False, True])
    assert {c.name: c.passed for c in description_checks(form, good)} == {
        "energy_plan": True, "drums_plan": True, "modal_interchange_plan": True}
    bad = _plan(*VCVC, energy=[0.85, 0.2, 0.85, 0.2], drums=["wanted"] * 4,
                modal_interchange=[False, True, False, False])
    assert {c.name: c.passed for c in description_checks(form, bad)} == {
        "energy_plan": False, "drums_plan": False, "modal_interchange_plan": False}
    # A plan from before issue 27 says nothing of drums or rule-breaks: not carried.
    old = _plan(*VCVC, energy=[0.2, 0.85, 0.2, 0.85])
    assert {c.name: c.passed for c in description_checks(form, old)} == {
        "energy_plan": True, "drums_plan": False, "modal_interchange_plan": False}


@pytest.mark.parametrize("form", [AskedForm(), AskedForm(open_form=True)])
def test_nothing_structural_asked_gives_no_checks(form):
    assert form_checks(form, _plan(*VCVC)) == []
