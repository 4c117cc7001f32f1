"""The form a prompt asks for, from section tags and plain words. What the
prompt states is returned exactly and nothing else; the planner fills the rest.

Honoured:
- Section tags, in any order and count: `[verse]`, `[Pre-Chorus]`, `[Verse 2]`,
  `[guitar solo]`, `[chorus: full band, loud]`, `[Intro - soft piano]`. The
  words around the type (before it, or after ':' or ' - ') are the section's
  description, which sets its energy and drums.
- Plain-word lists: "verse, chorus, verse, chorus, bridge, chorus", "intro,
  two solos, then an outro", "form: verse chorus verse chorus", "intro, quiet
  verse, loud chorus" (up to three words describe an item). A list is the
  whole form when it follows a label ("form:", "structure:"), or has three
  items or more and is not a list of ingredients: "with a big chorus, a
  bridge and an outro" only names what appears, unless it repeats a type or
  says "then".
- Counts ("two verses", "3 choruses", "a single chorus", "no bridge" is 0),
  types named ("a guitar solo": at least one), "a bridge before the last
  chorus", "ends on the chorus", "long/extended intro", "no intro", "starts
  straight into the verse", "abrupt ending", "no outro".
- Rule-breaks asked for the sections of a type: borrowed chords ("borrowed
  chords in the bridge", "modal interchange in the chorus") and displaced
  accents ("displaced accents in the verse", "off-beat accents in the chorus",
  "rhythmic displacement in the verses and the bridge"); in a section's own
  words they are that section's ("[bridge: borrowed chords]", "[verse -
  displaced accents]"). The phrase must be one of these clear ones: "a
  syncopated chorus" is none. A type whose every section asks for one is in
  FormRequest's set, which the planner applies to every section of the type.
Not read: rule-breaks without a section ("a borrowed chord", "rhythmic
displacement") or with a position ("in the last chorus"), letter forms
("AABA"), repeats ("chorus x2"), asides in parentheses inside a list,
descriptions in running text outside a list. A tag of unknown type or a
contradiction is a FormError naming it; nothing is dropped silently.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from hiermusic.services.common.music import SECTION_TYPES
from hiermusic.services.semantic.prompt import parse_prompt

HIGH_ENERGY, LOW_ENERGY = 1.0, 0.0  # a section's own words say loud / quiet

# Words read as a section type besides the type names. "break", "breakdown"
# (a drum break, a stop or an EDM breakdown) and "drop" are none of the
# types, so a tag with one is refused rather than guessed.
SYNONYMS = {
    "introduction": "intro",
    "pre chorus": "pre-chorus", "prechorus": "pre-chorus",
    "refrain": "chorus", "hook": "chorus",
    "middle eight": "bridge", "middle 8": "bridge", "interlude": "bridge",
    "instrumental break": "solo",
    "coda": "outro", "ending": "outro",
}
# In running text "a catchy hook" is a line and "an abrupt ending" no outro: tags only.
_TAG_ONLY = frozenset({"hook", "ending"})
_TYPE_OF = {**{t: t for t in SECTION_TYPES}, **SYNONYMS}


class FormError(ValueError):
    """A form the prompt asks for that cannot be honoured as it is stated."""


@dataclass(frozen=True)
class SectionRequest:
    type: str  # one of SECTION_TYPES
    description: str = ""  # the section's own words, e.g. "quiet piano, no drums"
    energy: float | None = None  # HIGH_ENERGY or LOW_ENERGY where its words say so
    drums: bool | None = None  # False: its words ask for none
    bars: int | None = None  # its length, where a plan states it; None: the planner's choice
    modal_interchange: bool = False  # borrowed chords asked in this section
    displacement: bool = False  # accents off the beat asked in this section


@dataclass(frozen=True)
class FormRequest:
    """What the prompt states of its form; what it leaves open is None or empty."""
    sections: tuple[SectionRequest, ...] = ()  # the whole form in order, where the prompt gives one
    # Only without `sections`, which states both: how many of a type ("no bridge": 0) ...
    counts: dict[str, int] = field(default_factory=dict)
    mentions: frozenset[str] = frozenset()  # ... and the types named without a count: at least one each
    bridge_before_last_chorus: bool = False
    ends_on: str | None = None  # the last section's type
    intro: str | None = None  # "long" or "none"
    ending: str | None = None  # "abrupt": no outro, the piece stops at full level
    # Rule-breaks asked for the sections of a type ("borrowed chords in the
    # bridge", "off-beat accents in the chorus"); with `sections`, also set on
    # those sections' own flags.
    modal_interchange: frozenset[str] = frozenset()
    displacement: frozenset[str] = frozenset()
    # Words for every section of a type ("the verses quiet with no drums"):
    # with `sections`, already on those sections; without, the planner gives
    # them to each section of the type it plans (and plans at least one).
    described: dict[str, SectionRequest] = field(default_factory=dict)


def _alternation(words: Iterable[str], plural: bool = False) -> str:
    """Longest first, so "pre chorus" wins over "chorus"; a space matches any run of them."""
    suffix = "(?:es|s)?" if plural else ""
    return "|".join(r"\s+".join(map(re.escape, w.split())) + suffix for w in sorted(words, key=len, reverse=True))


_TAG = re.compile(r"\[([^\[\]]*)\]")
_TAG_SPLIT = re.compile(r"\s*:\s*|\s+[-–—]\s+")
# The type ends a tag's head: words before it describe it, a number after it counts it ("Verse 2").
_TAG_HEAD = re.compile(rf"(?:(?P<words>.+?)\s+)??(?P<word>{_alternation(_TYPE_OF)})(?:\s+\d+)?", re.IGNORECASE)
_SECTION = re.compile(rf"\b(?P<word>{_alternation(_TYPE_OF.keys() - _TAG_ONLY, plural=True)})\b"
                      r"(?:\s+[1-9](?=\s*(?:[^\w\s]|$)))?",  # "verse 1, chorus, verse 2"
                      re.IGNORECASE)
_FUNCTION = r"and|or|then|before|after|over|on|in|into|with|at|to|from|for|that|which|by|is|are|ends?|ending"
# What follows a section word that makes it none: "chorus pedal" and
# "chorus-drenched" are an effect, "refrain from" a verb, and a solo followed
# by a noun an instrumentation ("solo piano piece", not "a solo, then ...").
_NOT_A_SECTION = {
    "chorus": re.compile(r"[\s-]+(?:pedals?|effects?|fx|guitars?|tone|sound|drenched|soaked|of)\b", re.IGNORECASE),
    "refrain": re.compile(r"\s+from\b", re.IGNORECASE),
    "solo": re.compile(rf"\s+(?!(?:{_FUNCTION}|section)\b)\w", re.IGNORECASE),
}
_NEGATION = re.compile(r"\b(?:no|without(?:\s+an?)?|skip(?:s|ping)?\s+the)\s+$", re.IGNORECASE)
_ENDS_ON = re.compile(r"\b(?:ends?|ending|finish(?:es|ing)?)\s+(?:on|with)\s+(?:(?:the|an?)\s+)?(?:[\w'-]+\s+)?$",
                      re.IGNORECASE)

_NUMBERS = {"one": 1, "single": 1, "a single": 1, "only one": 1, "just one": 1,
            "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_ARTICLES = ("another", "an", "a", "the")  # one of a type, not a count the prompt states
_COUNT = rf"{_alternation((*_NUMBERS, *_ARTICLES))}|[1-9]"
_WORD = rf"(?!(?:{_FUNCTION}|{_COUNT}|but|of|has|have|having|featuring|including|plus|followed|finally)\b)\w[\w'-]*"
# A position ("the last chorus") is no part of an item's description.
_ITEM = rf"(?:(?P<count>{_COUNT})\s+)?(?:(?:first|second|third|last|final|next|closing|opening)\s+)?"\
        rf"(?P<desc>(?:{_WORD}\s+){{0,3}})"
# Between two items of a list: separators, then the next item's count and words.
_SEPARATOR = r"(?:,|/|&|\+|->|→|>|[-–—]|\band\b|\bthen\b|\bfollowed\s+by\b|\bbefore\b|\bfinally\b)"
# An item may trail a short "with ..." of its own ("then a verse with displaced accents, then a chorus").
_GAP = re.compile(rf"\s+|(?:\s+with\s+(?:[\w'-]+\s+){{0,3}}?[\w'-]+)?\s*(?:{_SEPARATOR}\s*)+{_ITEM}",
                  re.IGNORECASE)
# Words that put items in sequence; a bare "before" does not ("a bridge before the last chorus").
_SEQUENCE = re.compile(r"->|→|>|\bthen\b|\bfollowed\s+by\b|\bfinally\b", re.IGNORECASE)
# A list's first item: words describe it only after punctuation or a count,
# so in "a song that goes verse, chorus" the verse is not "goes".
_LEAD = re.compile(rf"(?:(?:(?:^|(?<=[^\w\s'-]))\s*|\b(?=(?:{_COUNT})\s)){_ITEM})?$", re.IGNORECASE)
_INGREDIENTS = re.compile(r"\b(?:with|featuring|including|has|have|having|plus)\s*$", re.IGNORECASE)
_LABEL = re.compile(r"\b(?:form|structure|arrangement|layout|order)\s*(?::|=|\bis\b)\s*$", re.IGNORECASE)

_NO_INTRO = re.compile(r"\bstart(?:s|ing)?\s+(?:straight|right)\s+(?:in|into|on|with)\b", re.IGNORECASE)
_LONG_INTRO = re.compile(r"\b(?:long|longer|extended|lengthy)\s+(?:[\w'-]+\s+)?intro(?:duction)?\b", re.IGNORECASE)
_ABRUPT = re.compile(r"\b(?:abrupt|sudden|hard)\s+(?:ending|end|stop|finish)\b|\bends?\s+(?:abruptly|suddenly)\b"
                     r"|\bstops?\s+(?:dead|abruptly|suddenly)\b", re.IGNORECASE)
_BRIDGE_BEFORE_LAST = re.compile(r"\b(?:bridge|middle\s+(?:eight|8)|interlude)\s+(?:right\s+|just\s+)?before\s+"
                                 r"the\s+(?:last|final)\s+(?:chorus|refrain)\b", re.IGNORECASE)
_LOUD = re.compile(r"\b(?:loud|big|huge|full[\s-]band|energetic|powerful|intense)\b", re.IGNORECASE)
_QUIET = re.compile(r"\b(?:quiet|soft|gentle|sparse|calm|hushed|mellow)\b", re.IGNORECASE)
_FULL_BAND = re.compile(r"\bfull[\s-]band\b", re.IGNORECASE)
_ENDS_BEFORE = re.compile(r"\b(?:ends?|ending|finish(?:es|ing)?)\s+(?:on|with)\s+$", re.IGNORECASE)
# "the verses quiet with no drums", "the chorus is loud, with drums": words up
# to the next clause ("and the ...", punctuation) for every section of a type.
_TYPE_WORDS = re.compile(
    rf"\b(?:the|all|every|each)\s+(?:of\s+the\s+)?(?P<word>{_alternation(_TYPE_OF.keys() - _TAG_ONLY, plural=True)})"
    r"\s+(?:(?:are|is|should\s+be|stay|stays|sound|sounds|feel|feels|kept|go|goes)\s+)?"
    r"(?P<desc>(?:(?!\band\s+(?:the|all|every|each)\b)[^,.;:\[\]])+)",
    re.IGNORECASE)
# Rule-breaks in clear phrases only: "a syncopated chorus" says too little to plan on.
_MODAL = re.compile(r"\b(?:borrowed\s+chords?|modal\s+(?:interchange|mixture))\b", re.IGNORECASE)
_DISPLACED = re.compile(r"\b(?:(?:displaced|off[\s-]beat|off[\s-]the[\s-]beat)\s+(?:accents?|rhythms?|melod(?:y|ies))"
                        r"|(?:rhythmic|accent|melodic)\s+displacement)\b", re.IGNORECASE)
# Where a rule-break in running text is asked: "in the bridge", "in the verses and the chorus".
_SECTION_WORD = _alternation(_TYPE_OF.keys() - _TAG_ONLY, plural=True)
# A section that carries a rule-break named right after it: "the chorus uses
# modal interchange", "a verse with displaced accents".
_OWNER = re.compile(rf"\b(?P<word>{_SECTION_WORD})\s+(?:(?:that|which)\s+)?"
                    r"(?:uses?|has|have|with|features?|gets?|brings?)\s+(?:(?:some|a|an|the)\s+)?(?:[\w'-]+\s+)?$",
                    re.IGNORECASE)
_AT_END = re.compile(r"\s+(?:at|to)\s+the\s+(?:very\s+)?end\b", re.IGNORECASE)
_WHERE = re.compile(rf"\s+(?:in|on|during|throughout|for)\s+(?:(?:the|each|every|both|all(?:\s+the)?)\s+)?"
                    rf"(?P<types>(?:{_SECTION_WORD})(?:\s*(?:,|\band\b|&)\s*(?:the\s+)?(?:{_SECTION_WORD}))*)\b",
                    re.IGNORECASE)


@dataclass(frozen=True)
class _Item:
    """A section named in running text, alone or as an item of a list."""
    section: SectionRequest
    n: int  # how many sections it stands for
    counted: bool  # n is a number the prompt states ("two verses"), not an article
    plural: bool
    phrase: str  # the prompt's words for it, for error messages


@dataclass
class _List:
    items: list[_Item]
    labelled: bool  # "form: ..."
    ingredients: bool  # "with a ..., a ... and a ..."
    sequenced: bool = False  # "then", an arrow

    def is_order(self) -> bool:
        repeats = len({i.section.type for i in self.items}) < len(self.items)
        return self.labelled or len(self.items) >= 3 and (self.sequenced or repeats or not self.ingredients)

    def phrase(self) -> str:
        return ", ".join(i.phrase for i in self.items)


@dataclass
class _Said:
    """What the running text says of sections, each with the prompt's words for it."""
    needs: dict[str, str] = field(default_factory=dict)  # type -> words asking for at least one
    forbids: dict[str, str] = field(default_factory=dict)  # type -> words asking for none
    counts: dict[str, tuple[int, str]] = field(default_factory=dict)  # type -> (n, words asking for n)
    ends: dict[str, str] = field(default_factory=dict)  # type -> words asking to end on it
    bridge_before: str | None = None  # words asking for a bridge before the last chorus

    def count(self, kind: str, n: int, phrase: str) -> None:
        if kind in self.counts and self.counts[kind][0] != n:
            raise FormError(f'"{phrase}" contradicts "{self.counts[kind][1]}"')
        self.counts.setdefault(kind, (n, phrase))


def parse_form(text: str) -> FormRequest:
    """The form `text` asks for (the module's docstring says what is read).
    Raises FormError on a tag of unknown type and on statements that
    contradict each other or the form asked, naming both."""
    orders: list[tuple[tuple[SectionRequest, ...], str]] = []
    tags = [m.group() for m in _TAG.finditer(text)]
    if tags:
        orders.append((tuple(_tag_section(t[1:-1]) for t in tags), " ".join(tags)))
    prose = _TAG.sub(" . ", text)  # a tag ends any plain-word list around it
    described, prose = _type_descriptions(prose)

    said = _Said()
    named = _section_words(prose, said)
    if len(said.ends) > 1:
        first, second = list(said.ends.values())[:2]
        raise FormError(f'"{first}" contradicts "{second}"')
    if m := _NO_INTRO.search(prose):
        said.forbids.setdefault("intro", m.group())
    long_intro = _LONG_INTRO.search(prose)
    if long_intro and "intro" in said.forbids:
        raise FormError(f'"{long_intro.group()}" contradicts "{said.forbids["intro"]}"')
    if m := _ABRUPT.search(prose):
        said.forbids.setdefault("outro", m.group())
    if m := _BRIDGE_BEFORE_LAST.search(prose):
        said.bridge_before = m.group()

    loose: list[_Item] = []
    for found in _lists(prose, named):
        if not found.is_order():
            loose.extend(found.items)
        elif vague := next((i for i in found.items if i.plural and not i.counted), None):
            raise FormError(f'"{vague.phrase}" in the form asked, "{found.phrase()}": say how many')
        else:
            orders.append((tuple(i.section for i in found.items for _ in range(i.n)), found.phrase()))
    if len(orders) > 1:
        raise FormError(f'the prompt asks for two forms: "{orders[0][1]}" and "{orders[1][1]}"')
    for kind, (_, phrase) in described.items():
        said.needs.setdefault(kind, phrase)
    for item in loose:
        said.needs.setdefault(item.section.type, item.phrase)
        if item.counted:
            said.count(item.section.type, item.n, item.phrase)
    if clash := sorted(said.needs.keys() & said.forbids.keys()):
        raise FormError(f'"{said.needs[clash[0]]}" contradicts "{said.forbids[clash[0]]}"')

    modal, displaced = _rule_breaks(prose)
    request = FormRequest(bridge_before_last_chorus=said.bridge_before is not None,
                          ends_on=next(iter(said.ends), None),
                          intro="none" if "intro" in said.forbids else "long" if long_intro else None,
                          ending="abrupt" if "outro" in said.forbids else None)
    if not orders:
        return replace(request, counts={k: n for k, (n, _) in said.counts.items()},
                       mentions=frozenset(said.needs.keys() - said.counts.keys()),
                       modal_interchange=modal, displacement=displaced,
                       described={k: section for k, (section, _) in described.items()})
    sections, phrase = orders[0]
    # A section's own words win over words for its whole type.
    sections = tuple(replace(s, description=described[s.type][0].description, energy=described[s.type][0].energy,
                             drums=described[s.type][0].drums)
                     if s.type in described and not s.description else s for s in sections)
    _check_order([s.type for s in sections], phrase, said)
    sections = tuple(replace(s, modal_interchange=s.modal_interchange or s.type in modal,
                             displacement=s.displacement or s.type in displaced) for s in sections)
    return replace(request, sections=sections, modal_interchange=_every(sections, "modal_interchange"),
                   displacement=_every(sections, "displacement"))


def _type_descriptions(prose: str) -> tuple[dict[str, tuple[SectionRequest, str]], str]:
    """Words running text gives every section of a type ("the verses quiet
    with no drums and the choruses loud with drums"): type -> (its
    SectionRequest, the prompt's words), and the text without them, so they
    are read as no list item. Only words that set energy or drums count."""
    found: dict[str, tuple[SectionRequest, str]] = {}
    for m in _TYPE_WORDS.finditer(prose):
        words = m.group("desc")
        if _ENDS_BEFORE.search(prose, 0, m.start()):
            continue  # "ends on the chorus with drums": where the piece ends, read by _section_words
        if not (_LOUD.search(words) or _QUIET.search(words) or parse_prompt(words).drums is not None):
            continue
        kind = _read(m.group("word"))[1]
        section = _section(kind, " ".join(words.split()))
        if kind in found and found[kind][0] != section:
            raise FormError(f'"{m.group().strip()}" contradicts "{found[kind][1]}"')
        found[kind] = (section, m.group().strip())
    for _, phrase in found.values():
        prose = prose.replace(phrase, " . ")
    return found, prose


def _rule_breaks(prose: str) -> tuple[frozenset[str], frozenset[str]]:
    """The types running text asks borrowed chords and displaced accents for;
    a rule-break named without a section is not the form's."""
    found: dict[re.Pattern[str], set[str]] = {_MODAL: set(), _DISPLACED: set()}
    for pattern, types in found.items():
        for m in pattern.finditer(prose):
            if where := _WHERE.match(prose, m.end()):
                types.update(_read(w.group("word"))[1] for w in _SECTION.finditer(where.group("types")))
            elif owner := _OWNER.search(prose, 0, m.start()):  # "the chorus uses modal interchange"
                types.add(_read(owner.group("word"))[1])
    return frozenset(found[_MODAL]), frozenset(found[_DISPLACED])


def _every(sections: tuple[SectionRequest, ...], flag: str) -> frozenset[str]:
    """The types each of whose sections has `flag` set."""
    types = {s.type for s in sections}
    return frozenset(t for t in types if all(getattr(s, flag) for s in sections if s.type == t))


def _check_order(types: list[str], phrase: str, said: _Said) -> None:
    """What else the prompt says of its sections must agree with the order
    it gives: `phrase`, of `types`."""
    for kind, words in said.needs.items():
        if kind not in types:
            raise FormError(f'"{words}": the form asked, "{phrase}", has no {kind}')
    for kind, words in said.forbids.items():
        if kind in types:
            raise FormError(f'"{words}" contradicts the {kind} in the form asked, "{phrase}"')
    for kind, (n, words) in said.counts.items():
        if types.count(kind) != n:
            raise FormError(f'"{words}" contradicts the form asked, "{phrase}", which has {types.count(kind)}')
    for kind, words in said.ends.items():
        if types[-1] != kind:
            raise FormError(f'"{words}" contradicts the form asked, "{phrase}"')
    last_chorus = max((i for i, t in enumerate(types) if t == "chorus"), default=0)
    if said.bridge_before and (last_chorus == 0 or types[last_chorus - 1] != "bridge"):
        raise FormError(f'"{said.bridge_before}" contradicts the form asked, "{phrase}"')


def _section_words(prose: str, said: _Said) -> list[re.Match[str] | None]:
    """The section words of running text, None where one is negated; what
    is negated and where the piece ends go into `said`."""
    named: list[re.Match[str] | None] = []
    for m in _SECTION.finditer(prose):
        stem, kind, _ = _read(m.group("word"))
        if (follow := _NOT_A_SECTION.get(stem)) and follow.match(prose, m.end()):
            continue
        if negation := _NEGATION.search(prose, 0, m.start()):
            phrase = prose[negation.start():m.end()]
            said.forbids.setdefault(kind, phrase)
            if kind not in ("intro", "outro"):  # those two are `intro` and `ending`
                said.count(kind, 0, phrase)
            named.append(None)
        else:
            if on := _ENDS_ON.search(prose, 0, m.start()):
                said.ends.setdefault(kind, prose[on.start():m.end()])
            elif at_end := _AT_END.match(prose, m.end()):  # "a chorus at the end"
                said.ends.setdefault(kind, prose[m.start():at_end.end()])
            named.append(m)
    return named


def _lists(prose: str, named: list[re.Match[str] | None]) -> list[_List]:
    """The section words of running text grouped into lists: consecutive
    ones joined by separators; a negated one ends the list it interrupts."""
    lists: list[_List] = []
    previous: re.Match[str] | None = None
    for m in named:
        if m is None:
            previous = None
            continue
        start = previous.end() if previous else 0
        gap = _GAP.fullmatch(prose, start, m.start()) if previous else None
        if gap:
            lists[-1].sequenced |= bool(_SEQUENCE.search(gap.group()))
            lead = gap
        else:
            lead = _LEAD.search(prose, start, m.start())  # always matches, if only the empty end
            before = prose[:lead.start()]
            lists.append(_List([], bool(_LABEL.search(before)), bool(_INGREDIENTS.search(before))))
        lists[-1].items.append(_item(prose, m, lead))
        previous = m
    return lists


def _item(prose: str, m: re.Match[str], lead: re.Match[str]) -> _Item:
    _, kind, plural = _read(m.group("word"))
    count = " ".join((lead.group("count") or "").lower().split())
    desc = " ".join((lead.group("desc") or "").split())
    start = lead.start("count") if lead.group("count") else lead.start("desc") if desc else m.start()
    counted = count in _NUMBERS or count.isdigit()
    n = _NUMBERS.get(count) or (int(count) if count.isdigit() else 1)
    return _Item(_section(kind, desc), n, counted, plural, prose[start:m.end()])


def _tag_section(body: str) -> SectionRequest:
    head, *rest = _TAG_SPLIT.split(body.strip(), maxsplit=1)
    m = _TAG_HEAD.fullmatch(head)
    if m is None:
        known = ", ".join(SECTION_TYPES)
        raise FormError(f"unknown section type in tag [{body}]; known types: {known} "
                        f"(also read: {', '.join(SYNONYMS)})")
    return _section(_read(m.group("word"))[1], ", ".join(p for p in (m.group("words"), *rest) if p))


def _section(kind: str, description: str) -> SectionRequest:
    """A section's energy and drums come from its own words only."""
    loud, quiet = _LOUD.search(description), _QUIET.search(description)
    if loud and quiet:
        raise FormError(f'"{description}" asks for both "{loud.group()}" and "{quiet.group()}"; '
                        "a section has one energy")
    energy = HIGH_ENERGY if loud else LOW_ENERGY if quiet else None
    drums = parse_prompt(description).drums
    if drums is None and _FULL_BAND.search(description):
        drums = True
    return SectionRequest(kind, description, energy, drums, modal_interchange=bool(_MODAL.search(description)),
                          displacement=bool(_DISPLACED.search(description)))


def _read(word: str) -> tuple[str, str, bool]:
    """A matched section word's entry in the table, the type it names, and whether it is plural."""
    w = " ".join(word.lower().split())
    stem = next(s for s in (w, w[:-1], w[:-2]) if s in _TYPE_OF)
    return stem, _TYPE_OF[stem], stem != w

