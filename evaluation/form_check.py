"""The form a prompt asked for against the plan that came back: each thing
asked becomes a check that passes or fails with its reason. Only the plan's
sections are read (type, start_s, end_s, energy, repeat_of, and where the
plan carries them drums, modal_interchange, displacement), so these say what
the planner did; section_measures says what the audio did."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hiermusic.evaluation.prompt_set import AskedForm

# Issue 27: an extended intro lasts at least this many times the median of the other sections.
EXTENDED_INTRO_RATIO = 1.5
# Issue 27 asks for returns in pieces at least this long that state no form.
RETURNS_MIN_S = 45.0
# A plan's per-section drums, as song.plan.json writes them; older plans say nothing.
DRUMS_WANTED, DRUMS_UNWANTED, DRUMS_UNSAID = "wanted", "unwanted", "unsaid"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    reason: str


def bridge_before_last_chorus(types: list[str] | tuple[str, ...]) -> bool:
    """A bridge leads into the last chorus, a pre-chorus at most between them."""
    if "chorus" not in types:
        return False
    before = [t for t in types[: len(types) - 1 - list(reversed(types)).index("chorus")] if t != "pre-chorus"]
    return bool(before) and before[-1] == "bridge"


def seconds(section: dict) -> float:
    return float(section["end_s"]) - float(section["start_s"])


def form_checks(form: AskedForm, sections: list[dict]) -> list[Check]:
    """One check per structural thing asked (order, counts, types named,
    last section, bridge before the last chorus, intro, ending)."""
    types = [s["type"] for s in sections]
    have = Counter(types)
    checks = []
    if form.order:
        checks.append(Check("order", list(types) == list(form.order),
                            f"plan {' '.join(types) or '(none)'}; asked {' '.join(form.order)}"))
    if form.counts:
        wrong = {t: have[t] for t, n in form.counts.items() if have[t] != n}
        checks.append(Check("counts", not wrong, f"asked {_counts(form.counts)}; plan has "
                            f"{_counts({t: have[t] for t in form.counts})}"))
    if form.has:
        missing = [t for t in form.has if not have[t]]
        checks.append(Check("has", not missing, f"no {', '.join(missing)} in the plan" if missing
                            else f"plan has {', '.join(form.has)}"))
    if form.ends_on:
        last = types[-1] if types else None
        checks.append(Check("ends_on", last == form.ends_on, f"plan ends on {last}; asked {form.ends_on}"))
    if form.bridge_before_last_chorus:
        ok = bridge_before_last_chorus(types)
        checks.append(Check("bridge_before_last_chorus", ok, "a bridge leads into the last chorus" if ok
                            else f"no bridge right before the last chorus in {' '.join(types)}"))
    if form.no_intro:
        checks.append(Check("no_intro", not have["intro"], f"{have['intro']} intro(s) in the plan"))
    if form.extended_intro:
        checks.append(extended_intro(sections))
    if form.abrupt_ending:
        checks.append(Check("abrupt_ending", not have["outro"], f"{have['outro']} outro(s) in the plan"))
    return checks


def extended_intro(sections: list[dict]) -> Check:
    """The first section is an intro lasting >= 1.5x the median of the others."""
    if not sections or sections[0]["type"] != "intro":
        return Check("extended_intro", False, "the plan does not start with an intro")
    others = [seconds(s) for s in sections[1:]]
    if not others:
        return Check("extended_intro", False, "the intro is the whole piece")
    ratio = seconds(sections[0]) / max(median(others), 1e-9)
    return Check("extended_intro", ratio >= EXTENDED_INTRO_RATIO,
                 f"intro {seconds(sections[0]):.1f} s = {ratio:.2f}x the other sections' median "
                 f"{median(others):.1f} s (needs {EXTENDED_INTRO_RATIO:g}x)")


def returns(sections: list[dict]) -> Check:
    """Whether some material comes back: a section the plan marks as a
    repeat of an earlier one, or, whatever repeat_of says, a type played twice."""
    marked = [i for i, s in enumerate(sections) if 0 <= s.get("repeat_of", -1) < i]
    twice = sorted(t for t, n in Counter(s["type"] for s in sections).items() if n > 1)
    if marked or twice:
        return Check("returns", True, f"repeat_of marks {len(marked)} section(s); "
                     f"types played twice or more: {', '.join(twice) or 'none'}")
    return Check("returns", False, f"nothing comes back: {' '.join(s['type'] for s in sections)}")


def description_checks(form: AskedForm, sections: list[dict]) -> list[Check]:
    """Whether the plan carries what the prompt said of its sections: more
    energy where it asked loud than quiet, drums wanted and unwanted where
    it asked, rule-break flags on the sections asked."""
    checks = []
    if form.loud:
        loud, quiet = _mean_energy(sections, form.loud), _mean_energy(sections, form.quiet)
        ok = loud is not None and quiet is not None and loud > quiet
        checks.append(Check("energy_plan", ok, f"planned energy {_fmt(loud)} ({'/'.join(form.loud)}) vs "
                            f"{_fmt(quiet)} ({'/'.join(form.quiet)})"))
    if form.drums_in:
        wrong = [f"{i}:{s['type']}={s.get('drums', DRUMS_UNSAID)}" for i, s in enumerate(sections)
                 if s["type"] in form.drums_in and s.get("drums", DRUMS_UNSAID) != DRUMS_WANTED
                 or s["type"] in form.drums_out and s.get("drums", DRUMS_UNSAID) != DRUMS_UNWANTED]
        asked = [s for s in sections if s["type"] in (*form.drums_in, *form.drums_out)]
        checks.append(Check("drums_plan", bool(asked) and not wrong,
                            "no section of the types asked" if not asked else
                            f"sections not as asked: {', '.join(wrong)}" if wrong else "drums as asked"))
    for flag in ("modal_interchange", "displacement"):
        asked_types = getattr(form, flag)
        if asked_types:
            asked = [(i, s) for i, s in enumerate(sections) if s["type"] in asked_types]
            missing = [f"{i}:{s['type']}" for i, s in asked if not s.get(flag, False)]
            checks.append(Check(f"{flag}_plan", bool(asked) and not missing,
                                "no section of the types asked" if not asked else
                                f"not flagged: {', '.join(missing)}" if missing else "flagged as asked"))
    return checks


def _mean_energy(sections: list[dict], types: tuple[str, ...]) -> float | None:
    values = [float(s["energy"]) for s in sections if s["type"] in types]
    return sum(values) / len(values) if values else None


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {t}" for t, n in counts.items())


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
