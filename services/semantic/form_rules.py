"""The rules an open form (a FormRequest without a stated order) is planned
by, around the model (planner.py): which types a step may take (never past
a count), where the model's own sample misses what is asked, which types and
bars steer it there, what the sampled form must hold, and the repair where
sampling kept missing it; and the check, before anything is sampled, of
what no plan can give.

A stated order is kept as it is: it can only be refused (FormError), never
changed. "Returns" (a section type heard again) are asked of every open form
from RETURNS_FROM_S on."""
from __future__ import annotations

import math
import statistics

from hiermusic.services.common.music import SECTION_TYPES
from hiermusic.services.semantic.form_fit import Draft, fit_bars
from hiermusic.services.semantic.form_request import FormError, FormRequest, SectionRequest

RETURNS_FROM_S = 45.0  # an open form this long has some section type twice
CHORUS_RETURNS_FROM_S = 180.0  # ... and this long, its chorus twice
ABRUPT_ENERGY = 0.7  # the least energy an abrupt ending stops at
# What a return repeats, the likeliest first; an intro or outro heard twice is no return.
_RETURNS = ("chorus", "verse", "bridge", "solo", "pre-chorus")
_REPAIR_PASSES = 4  # one repair can undo another (a chorus added after the bridge before it)
_RULE_BREAK_WORDS = {"modal_interchange": "borrowed chords", "displacement": "displaced accents"}


def asked_types(form: FormRequest) -> frozenset[str]:
    """Types an open form must have: named, or asked a rule-break."""
    return form.mentions | form.modal_interchange | form.displacement


def banned(form: FormRequest) -> frozenset[str]:
    """Types an open form may not have."""
    out = {t for t, n in form.counts.items() if n == 0}
    if form.intro == "none":
        out.add("intro")
    if form.ending == "abrupt":
        out.add("outro")
    return frozenset(out)


def check_asked(form: FormRequest) -> None:
    """What the form asks that no plan can give, named before anything is sampled."""
    types = [s.type for s in form.sections]
    if unknown := next((t for t in types if t not in SECTION_TYPES), None):
        raise FormError(f"unknown section type {unknown!r}; known types: {', '.join(SECTION_TYPES)}")
    no = frozenset(SECTION_TYPES) - set(types) if types else banned(form)
    for flag, words in _RULE_BREAK_WORDS.items():
        if kind := next((t for t in sorted(getattr(form, flag)) if t in no), None):
            raise FormError(f"{words} were asked in the {kind}, but the form has no {kind}")
    if not types:
        if no >= set(SECTION_TYPES):
            raise FormError("the form asked bans every section type")
        if both := sorted(_required(form) & no):
            raise FormError(f"the form asked both asks for {_a(both[0])} and bans it")
        return
    if form.intro == "long" and types[0] != "intro":
        raise FormError(f"an extended intro was asked but the form asked starts with {_a(types[0])}")
    if form.ending == "abrupt" and types[-1] == "outro":
        raise FormError("an abrupt ending was asked but the form asked ends with an outro")
    if bad := next((s for s in form.sections if s.bars is not None and s.bars < 1), None):
        raise FormError(f"sections[{form.sections.index(bad)}] ({bad.type}) has {bad.bars} bars; at least 1")


def least_sections(form: FormRequest) -> int:
    """How many sections an open form needs at least: what it counts, names and places."""
    ends_after_its_bridge = form.bridge_before_last_chorus and form.ends_on == "bridge"  # a second bridge
    return sum(form.counts.values()) + len(_required(form) - form.counts.keys()) + ends_after_its_bridge


def _required(form: FormRequest) -> set[str]:
    """The types an open form must have at least one of."""
    named = {t for t, n in form.counts.items() if n} | asked_types(form) | {form.ends_on} - {None}
    if form.intro == "long":
        named.add("intro")
    if form.bridge_before_last_chorus:
        named |= {"bridge", "chorus"}
    return named  # type: ignore[return-value]


def reserve(bars: list[int]) -> int:
    """Bars kept for each section an open form still needs: as long as the
    sections so far are (their median), so that none is squeezed in at the end."""
    return max(2, statistics.median_low(bars)) if bars else 4


def allowed_types(form: FormRequest, types: list[str]) -> frozenset[str] | None:
    """The types the next section of an open form may take after `types`:
    never past a count or a ban, an extended intro first. None: any (what
    the model samples is then untouched)."""
    full = _full(form, types)
    if form.intro == "long" and not types and "intro" not in full:
        return frozenset({"intro"})
    return frozenset(SECTION_TYPES) - full if full else None


def steered_types(form: FormRequest, types: list[str], bars_left: float, room: int) -> frozenset[str] | None:
    """allowed_types, narrowed so that what `form` asks comes in while there
    is room, `bars_left` before the end and `room` bars kept for each section
    still to come: an intro asked, first; once the room left holds no free
    section besides, only those still to come: what is needed, then what the
    piece ends with."""
    full = _full(form, types)
    if not types and "intro" in _needed_types(form) and "intro" not in full:
        return frozenset({"intro"})
    if bars_left < room * to_come(form, types) + 2:
        needed, tail = _to_come(form, types)
        if now := frozenset(needed or tail[:1]) - full:
            return now
    return allowed_types(form, types)


def steered_bars(form: FormRequest, types: list[str], bars_left: float, room: int,
                 choices: tuple[int, ...]) -> set[int] | None:
    """The bars the section just added to `types` may take: leaving `room`
    for each still to come; where it ends what the piece ends with, all that is left."""
    if k := to_come(form, types):
        return {b for b in choices if bars_left - b >= room * k} or {min(choices)}
    if types[-1:] == _tail(form)[-1:] and bars_left < room + 2:
        return {b for b in choices if bars_left - b < 1} or {max(choices)}
    return None


def to_come(form: FormRequest, types: list[str]) -> int:
    """How many more sections `types` needs for what `form` asks."""
    return sum(map(len, _to_come(form, types)))


def _full(form: FormRequest, types: list[str]) -> set[str]:
    """The types `types` may have no more of."""
    return {t for t, n in form.counts.items() if types.count(t) >= n} | banned(form)


def _needed_types(form: FormRequest) -> list[str]:
    counted = [t for t, n in form.counts.items() for _ in range(n)]
    return counted + sorted(asked_types(form) - form.counts.keys())


def _end(form: FormRequest) -> str | None:
    """The type an open form ends on: the one asked, or an outro asked."""
    return form.ends_on or ("outro" if "outro" in _needed_types(form) else None)


def _tail(form: FormRequest) -> list[str]:
    """The sections an open form ends with: a bridge and its last chorus, then its end."""
    tail = ["bridge", "chorus"] if form.bridge_before_last_chorus else []
    end = _end(form)
    return tail + [end] if end and tail[-1:] != [end] else tail


def _to_come(form: FormRequest, types: list[str]) -> tuple[list[str], list[str]]:
    """The sections `types` still needs: those its counts and names ask, and
    those of the tail it does not end with yet; none twice."""
    tail = _tail(form)
    end = _end(form)
    if (not form.bridge_before_last_chorus or _bridge_before_last_chorus(types)) and \
            (end is None or types[-1:] == [end]):
        tail = []
    else:  # what the piece already ends with of it
        tail = tail[next((k for k in range(len(tail), 0, -1) if types[-k:] == tail[:k]), 0):]
    needed = _needed_types(form)
    for t in types + tail:
        if t in needed:
            needed.remove(t)
    return needed, tail


def unmet(types: list[str], form: FormRequest, duration_s: float) -> dict[str, str]:
    """What an open form of `types` misses of `form`, by constraint."""
    out: dict[str, str] = {}
    if form.intro == "long" and types[:1] != ["intro"]:
        out["intro"] = "an extended intro was asked"
    if kinds := sorted(set(types) & banned(form)):
        out["banned"] = f"the form asked has no {kinds[0]}"
    for kind, n in sorted(form.counts.items()):
        if types.count(kind) != n:
            out[f"count {kind}"] = f"{n} × {kind} were asked, the form has {types.count(kind)}"
    if missing := sorted(asked_types(form) - set(types)):
        out["named"] = f"{_a(missing[0])} was asked"
    if form.ends_on and types[-1:] != [form.ends_on]:
        out["ends_on"] = f"the piece was asked to end on the {form.ends_on}"
    if form.bridge_before_last_chorus and not _bridge_before_last_chorus(types):
        out["bridge"] = "a bridge before the last chorus was asked"
    if duration_s >= RETURNS_FROM_S and _repeatable(form) and all(types.count(t) < 2 for t in types):
        out["returns"] = f"a piece of {RETURNS_FROM_S:g} s or more repeats a section type"
    if duration_s >= CHORUS_RETURNS_FROM_S and "chorus" not in form.counts and types.count("chorus") < 2:
        out["chorus returns"] = f"a piece of {CHORUS_RETURNS_FROM_S:g} s or more has its chorus twice"
    return out


def repair(drafts: list[Draft], form: FormRequest, duration_s: float) -> list[Draft]:
    """`drafts` changed as little as it takes to meet `form`: missing types
    added where songs put them, sections moved, or dropped after the last of
    the type the piece ends on. Added sections have no bars nor energy yet.
    FormError where nothing can meet it."""
    drafts = list(drafts)
    for _ in range(_REPAIR_PASSES):
        if not unmet(_types(drafts), form, duration_s):
            break
        if form.intro == "long" and _types(drafts)[:1] != ["intro"]:
            _bring(drafts, "intro", 0, form)
        for kind in SECTION_TYPES:
            want = form.counts.get(kind, 1 if kind in asked_types(form) else 0)
            while _types(drafts).count(kind) < want:
                _add(drafts, kind, form)
        if form.bridge_before_last_chorus and not _bridge_before_last_chorus(_types(drafts)):
            if "chorus" not in _types(drafts):
                _add(drafts, "chorus", form)
            last_chorus = len(drafts) - 1 - _types(drafts)[::-1].index("chorus")
            _bring(drafts, "bridge", last_chorus, form)
        _returns(drafts, form, duration_s)
        if form.ends_on and _types(drafts)[-1] != form.ends_on:
            _end_on(drafts, form, duration_s)
    if problems := unmet(_types(drafts), form, duration_s):
        raise FormError(f"the form asked cannot be planned: {'; '.join(problems.values())}")
    return drafts


def fit_open(drafts: list[Draft], form: FormRequest, tempo_bpm: float, bar_s: float,
             duration_s: float) -> tuple[list[Draft], list[int]]:
    """An open form's bars (fit_bars), where they do not fit, after dropping
    the last sections that nothing asked needs."""
    drafts = list(drafts)
    while True:
        try:
            return drafts, fit_bars(drafts, tempo_bpm, bar_s, duration_s, form.intro == "long")
        except FormError:
            spare = next((i for i in reversed(range(len(drafts)))
                          if not unmet(_types(drafts[:i] + drafts[i + 1:]), form, duration_s)), None)
            if spare is None and len(drafts) * bar_s > duration_s:
                raise FormError(_too_short(len(drafts), tempo_bpm, bar_s, duration_s)) from None
            if spare is None:
                raise  # the extended intro's
            del drafts[spare]


def room_error(form: FormRequest, tempo_bpm: float, bar_s: float, duration_s: float) -> str | None:
    """Why the form asked cannot fit in `duration_s` at `tempo_bpm`, or None:
    a stated order at a bar for each free section, an open one at a bar for
    each section it needs at least (an extended intro first)."""
    extended = form.intro == "long"
    if form.sections:
        asked = [Draft.asked(s) for s in form.sections]
    else:
        n = max(1, least_sections(form))
        asked = [Draft(SectionRequest("intro" if extended and i == 0 else "verse")) for i in range(n)]
    try:
        fit_bars(asked, tempo_bpm, bar_s, duration_s, extended)
    except FormError as err:
        if form.sections:
            return str(err)
        if extended and n * bar_s <= duration_s:
            return (f"an extended intro was asked, but at {tempo_bpm:g} bpm a piece of {duration_s:g} s has no "
                    f"room for it beside the {n - 1} other sections the form asked needs")
        return _too_short(n, tempo_bpm, bar_s, duration_s)
    return None


def _too_short(n: int, tempo_bpm: float, bar_s: float, duration_s: float) -> str:
    return (f"the form asked needs at least {n} sections; at {tempo_bpm:g} bpm they need at least "
            f"{n * bar_s:.1f} s (1 bar each), the piece is {duration_s:g} s")


# -- helpers -----------------------------------------------------------------------------


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _types(drafts: list[Draft]) -> list[str]:
    return [d.type for d in drafts]


def _bridge_before_last_chorus(types: list[str]) -> bool:
    last = max((i for i, t in enumerate(types) if t == "chorus"), default=0)
    return last > 0 and types[last - 1] == "bridge"


def _repeatable(form: FormRequest) -> list[str]:
    """The types a return may repeat: a stated count is exact, a banned type absent."""
    return [t for t in _RETURNS if t not in form.counts and t not in banned(form)]


def _addable(types: list[str], kind: str, form: FormRequest) -> bool:
    return kind not in banned(form) and types.count(kind) < form.counts.get(kind, math.inf)


def _place(types: list[str], kind: str) -> int:
    """Where songs put a section of `kind` added to `types`."""
    tail = len(types) - 1 if types[-1:] == ["outro"] else len(types)  # before a closing outro
    choruses = [i for i, t in enumerate(types) if t == "chorus"]
    if kind == "intro":
        return 0
    if kind == "outro":
        return len(types)
    if kind in ("bridge", "solo"):  # the break before the last chorus
        return choruses[-1] if choruses and choruses[-1] > 0 else tail
    if kind == "pre-chorus":
        return next((i for i in choruses if types[i - 1:i] != ["pre-chorus"]), tail)
    if kind == "verse":
        verses = [i for i, t in enumerate(types) if t == "verse"]
        if not verses:  # the first verse leads into the first chorus
            return next((i for i, t in enumerate(types) if t in ("pre-chorus", "chorus")), tail)
        return next((i + 1 for i in choruses if i > verses[-1]), verses[-1] + 1)  # after its chorus
    return tail


def _add(drafts: list[Draft], kind: str, form: FormRequest) -> None:
    if not _addable(_types(drafts), kind, form):
        why = "it is banned" if kind in banned(form) else f"it asks for {form.counts[kind]} only"
        raise FormError(f"the form asked needs {_a(kind)} more, but {why}")
    drafts.insert(_place(_types(drafts), kind), Draft(SectionRequest(kind)))


def _bring(drafts: list[Draft], kind: str, at: int, form: FormRequest) -> None:
    """A section of `kind` at index `at`: added, or where the count is full, moved there."""
    types = _types(drafts)
    if _addable(types, kind, form):
        drafts.insert(at, Draft(SectionRequest(kind)))
    elif kind in types:
        i = max(i for i, t in enumerate(types) if t == kind)
        drafts.insert(at - (i < at), drafts.pop(i))
    else:
        raise FormError(f"the form asked needs {_a(kind)}, but it is banned")


def _returns(drafts: list[Draft], form: FormRequest, duration_s: float) -> None:
    types = _types(drafts)
    if duration_s >= CHORUS_RETURNS_FROM_S and "chorus" not in form.counts and "chorus" not in banned(form):
        while _types(drafts).count("chorus") < 2:
            _add_return(drafts, "chorus", form)
    if duration_s >= RETURNS_FROM_S and all(_types(drafts).count(t) < 2 for t in types) and _repeatable(form):
        kind = next((t for t in _repeatable(form) if t in types), _repeatable(form)[0])
        while _types(drafts).count(kind) < 2:
            _add_return(drafts, kind, form)


def _add_return(drafts: list[Draft], kind: str, form: FormRequest) -> None:
    """A chorus comes back after a verse, where a verse may be added: not straight after itself."""
    types = _types(drafts)
    at = _place(types, kind)
    if kind == "chorus" and types[at - 1:at] == ["chorus"] and _addable(types, "verse", form):
        drafts.insert(at, Draft(SectionRequest("verse")))
    _add(drafts, kind, form)


def _end_on(drafts: list[Draft], form: FormRequest, duration_s: float) -> None:
    """The last section of the type asked: what follows the last one dropped
    where nothing asked needs it, else one added or moved to the end."""
    kind = form.ends_on
    while kind in _types(drafts) and drafts[-1].type != kind:
        before = set(unmet(_types(drafts), form, duration_s)) - {"ends_on"}
        if set(unmet(_types(drafts[:-1]), form, duration_s)) - {"ends_on"} - before:
            break
        drafts.pop()
    if drafts[-1].type != kind:
        _bring(drafts, kind, len(drafts), form)
