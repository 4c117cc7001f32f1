from __future__ import annotations

import re

import pytest

from hiermusic.services.common.music import SECTION_TYPES
from hiermusic.services.semantic.form_request import (
    HIGH_ENERGY,
    LOW_ENERGY,
    SYNONYMS,
    FormError,
    FormRequest,
    SectionRequest,
    parse_form,
)


def order(*types: str) -> tuple[SectionRequest, ...]:
    return tuple(SectionRequest(t) for t in types)


# The five unseen prompts of issue 27, as a person would type them.
QUIET_VERSE = SectionRequest("verse", "quiet piano, without drums", LOW_ENERGY, False)
LOUD_CHORUS = SectionRequest("chorus", "loud full band, with drums", HIGH_ENERGY, True)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("An indie rock song that goes verse, chorus, verse, chorus, outro",
         FormRequest(sections=order("verse", "chorus", "verse", "chorus", "outro"))),
        ("dreamy synth pop, 100 bpm\n[Intro]\n[Verse 1]\n[Chorus]\n[Verse 2]\n[Chorus]\n[Bridge]\n[Chorus]\n[Outro]",
         FormRequest(sections=order("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"))),
        ("late night jazz trio: intro, two solos and an outro",
         FormRequest(sections=order("intro", "solo", "solo", "outro"))),
        ("slow blues in E with a long intro, a guitar solo and an abrupt ending",
         FormRequest(mentions=frozenset({"intro", "solo"}), intro="long", ending="abrupt")),
        ("[verse - quiet piano, without drums] [chorus - loud full band, with drums] "
         "[verse - quiet piano, without drums] [chorus - loud full band, with drums]",
         FormRequest(sections=(QUIET_VERSE, LOUD_CHORUS, QUIET_VERSE, LOUD_CHORUS))),
    ],
)
def test_issue_27_prompts(prompt: str, expected: FormRequest) -> None:
    assert parse_form(prompt) == expected


def test_a_prompt_that_says_nothing_of_form_leaves_it_all_open() -> None:
    assert parse_form("warm lofi hip hop beat for studying, 80 bpm") == FormRequest()


# -- tags -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("[verse]", SectionRequest("verse")),
        ("[Pre-Chorus]", SectionRequest("pre-chorus")),
        ("[pre chorus]", SectionRequest("pre-chorus")),
        ("[PRECHORUS]", SectionRequest("pre-chorus")),
        ("[Verse 2]", SectionRequest("verse")),
        ("[refrain]", SectionRequest("chorus")),
        ("[Hook]", SectionRequest("chorus")),
        ("[middle 8]", SectionRequest("bridge")),
        ("[interlude]", SectionRequest("bridge")),
        ("[instrumental break]", SectionRequest("solo")),
        ("[coda]", SectionRequest("outro")),
        ("[Ending]", SectionRequest("outro")),
        ("[guitar solo]", SectionRequest("solo", "guitar")),
        ("[sax solo: slow and gentle]", SectionRequest("solo", "sax, slow and gentle", LOW_ENERGY)),
        ("[Intro - soft piano]", SectionRequest("intro", "soft piano", LOW_ENERGY)),
        ("[chorus: full band, loud]", SectionRequest("chorus", "full band, loud", HIGH_ENERGY, True)),
        ("[bridge: sparse, no drums]", SectionRequest("bridge", "sparse, no drums", LOW_ENERGY, False)),
        ("[outro: big drums]", SectionRequest("outro", "big drums", HIGH_ENERGY, True)),
        ("[verse: strings and a harp]", SectionRequest("verse", "strings and a harp")),
    ],
)
def test_a_tag_gives_a_section_and_its_words(tag: str, expected: SectionRequest) -> None:
    assert parse_form(tag).sections == (expected,)


def test_every_type_and_synonym_is_a_tag() -> None:
    for word in (*SECTION_TYPES, *SYNONYMS):
        assert parse_form(f"[{word}]").sections[0].type in SECTION_TYPES


def test_tags_in_any_order_and_count_with_prose_around_them() -> None:
    prompt = "[chorus] [chorus: bigger] then [verse] [solo] and a final [chorus], in A minor"
    assert [s.type for s in parse_form(prompt).sections] == ["chorus", "chorus", "verse", "solo", "chorus"]


# -- plain words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "types"),
    [
        ("verse, chorus, verse, chorus, bridge, chorus", ["verse", "chorus", "verse", "chorus", "bridge", "chorus"]),
        ("intro, verse, chorus and outro", ["intro", "verse", "chorus", "outro"]),
        ("form: verse chorus verse chorus", ["verse", "chorus", "verse", "chorus"]),
        ("Structure:\nIntro\nVerse\nChorus\nOutro", ["intro", "verse", "chorus", "outro"]),
        ("form: verse, chorus", ["verse", "chorus"]),  # a label makes two items a form
        ("intro -> verse -> chorus -> outro", ["intro", "verse", "chorus", "outro"]),
        ("verse/chorus/verse/chorus", ["verse", "chorus", "verse", "chorus"]),
        ("Verse 1, Chorus, Verse 2, Chorus", ["verse", "chorus", "verse", "chorus"]),
        ("pop: verse, pre-chorus, chorus, verse, pre chorus, chorus", ["verse", "pre-chorus", "chorus"] * 2),
        ("a song with a verse, a chorus, another verse and then the chorus again", ["verse", "chorus"] * 2),
        ("a jazz tune with an intro, then two solos and an outro", ["intro", "solo", "solo", "outro"]),
    ],
)
def test_a_list_in_words_is_the_form(prompt: str, types: list[str]) -> None:
    assert [s.type for s in parse_form(prompt).sections] == types


def test_words_in_a_list_describe_their_item() -> None:
    assert parse_form("jazz quartet, intro, a quiet piano solo, a loud sax solo, then an outro").sections == (
        SectionRequest("intro"), SectionRequest("solo", "quiet piano", LOW_ENERGY),
        SectionRequest("solo", "loud sax", HIGH_ENERGY), SectionRequest("outro"))


def test_a_position_is_no_description() -> None:
    form = parse_form("verse, chorus, verse, chorus, then a bridge before the last chorus")
    assert form == FormRequest(sections=order("verse", "chorus", "verse", "chorus", "bridge", "chorus"),
                               bridge_before_last_chorus=True)


@pytest.mark.parametrize(
    ("prompt", "mentions"),
    [
        ("an upbeat pop song with a big chorus", {"chorus"}),
        ("a ballad with a big chorus, a bridge and an outro", {"chorus", "bridge", "outro"}),  # ingredients
        ("sad verse, happy chorus", {"verse", "chorus"}),  # two items, no label: not the whole form
        ("a song with an intro and an outro", {"intro", "outro"}),
        ("a funk jam with a guitar solo", {"solo"}),
        ("bebop, the horns trade solos", {"solo"}),
        ("an interlude and a coda", {"bridge", "outro"}),
        ("Verse: soft piano. Chorus: big drums.", {"verse", "chorus"}),
    ],
)
def test_a_type_named_without_order_or_count_is_a_mention(prompt: str, mentions: set[str]) -> None:
    assert parse_form(prompt) == FormRequest(mentions=frozenset(mentions))


@pytest.mark.parametrize(
    "prompt",
    [
        "90s shoegaze with a chorus pedal on every guitar",
        "clean guitar with a chorus effect",
        "lush chorus-drenched guitars",
        "a chorus of voices over a drone",
        "a solo piano piece in D minor",
        "solo cello, slow and sad",
        "a catchy hook over a four on the floor beat",  # a hook in words is a line, not a chorus
        "refrain from using drums",
        "an abrupt ending",  # no outro, not an outro
    ],
)
def test_words_that_are_no_section(prompt: str) -> None:
    form = parse_form(prompt)
    assert (form.sections, form.counts, form.mentions) == ((), {}, frozenset())


# -- counts and positions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "counts", "mentions"),
    [
        ("two verses and a single chorus", {"verse": 2, "chorus": 1}, set()),
        ("folk song, 3 choruses", {"chorus": 3}, set()),
        ("only one chorus, please", {"chorus": 1}, set()),
        ("a ballad with two verses, a bridge and one chorus", {"verse": 2, "chorus": 1}, {"bridge"}),
        ("a short piece with no bridge", {"bridge": 0}, set()),
        ("no solos, just piano", {"solo": 0}, set()),
        ("without a chorus", {"chorus": 0}, set()),
    ],
)
def test_counts(prompt: str, counts: dict[str, int], mentions: set[str]) -> None:
    assert parse_form(prompt) == FormRequest(counts=counts, mentions=frozenset(mentions))


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a ballad with a bridge before the last chorus",
         FormRequest(mentions=frozenset({"bridge", "chorus"}), bridge_before_last_chorus=True)),
        ("make it end on the chorus", FormRequest(mentions=frozenset({"chorus"}), ends_on="chorus")),
        ("country song that ends with a big chorus", FormRequest(mentions=frozenset({"chorus"}), ends_on="chorus")),
        ("an extended intro", FormRequest(mentions=frozenset({"intro"}), intro="long")),
        ("ambient, a long synth intro", FormRequest(mentions=frozenset({"intro"}), intro="long")),
        ("no intro please", FormRequest(intro="none")),
        ("punk, without an intro", FormRequest(intro="none")),
        ("it starts straight into the verse", FormRequest(mentions=frozenset({"verse"}), intro="none")),
        ("abrupt ending", FormRequest(ending="abrupt")),
        ("synthwave that ends abruptly", FormRequest(ending="abrupt")),
        ("a sudden ending", FormRequest(ending="abrupt")),
        ("no outro", FormRequest(ending="abrupt")),
    ],
)
def test_positions_intro_and_ending(prompt: str, expected: FormRequest) -> None:
    assert parse_form(prompt) == expected


def test_what_else_the_prompt_says_may_agree_with_its_form() -> None:
    prompt = ("[intro] [verse] [chorus] [verse] [chorus] [bridge] [chorus], with a long intro, two verses "
              "and a bridge before the last chorus, ending on the chorus. No outro.")
    assert parse_form(prompt) == FormRequest(
        sections=order("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus"),
        bridge_before_last_chorus=True, ends_on="chorus", intro="long", ending="abrupt")


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        # A tag the levels don't know.
        ("[verse] [drop] [chorus]", "unknown section type in tag [drop]; known types: intro, verse, pre-chorus, "
                                    "chorus, bridge, solo, outro"),
        ("[breakdown]", "tag [breakdown]"),
        ("[break]", "tag [break]"),
        ("[solo piano]", "tag [solo piano]"),
        # Statements that contradict each other.
        ("no intro, but a long intro", '"long intro" contradicts "no intro"'),
        ("starts straight into the verse after a long intro", '"long intro" contradicts "starts straight into"'),
        ("two verses, no wait, three verses", '"three verses" contradicts "two verses"'),
        ("no bridge, but a bridge before the last chorus", '"a bridge" contradicts "no bridge"'),
        ("an outro that fades away and an abrupt ending", '"an outro" contradicts "abrupt ending"'),
        ("ends on the chorus, or ends with a solo", '"ends on the chorus" contradicts "ends with a solo"'),
        ("[chorus: soft but loud]", '"soft but loud" asks for both "loud" and "soft"'),
        # Two forms, or a form that is not whole.
        ("verse, chorus, verse, chorus. Then intro, verse, outro",
         'two forms: "verse, chorus, verse, chorus" and "intro, verse, outro"'),
        ("[verse] [chorus] [verse] or verse, chorus, verse", 'two forms: "[verse] [chorus] [verse]" and'),
        ("intro, verses, chorus", '"verses" in the form asked, "intro, verses, chorus": say how many'),
        # Statements that contradict the form asked.
        ("no intro [intro] [verse] [chorus]", '"no intro" contradicts the intro in the form asked, '
                                              '"[intro] [verse] [chorus]"'),
        ("[verse] [chorus] [outro], with an abrupt ending", '"abrupt ending" contradicts the outro'),
        ("[verse] [chorus] with a guitar solo", '"a guitar solo": the form asked, "[verse] [chorus]", has no solo'),
        ("[verse] [chorus] [verse] [chorus] [chorus], two choruses",
         '"two choruses" contradicts the form asked, "[verse] [chorus] [verse] [chorus] [chorus]", which has 3'),
        ("[verse] [chorus] [verse], end on the chorus", '"end on the chorus" contradicts the form asked'),
        ("[verse] [bridge] [chorus] [verse] [chorus] and a bridge before the last chorus",
         '"bridge before the last chorus" contradicts the form asked'),
    ],
)
def test_errors_name_what_cannot_be_honoured(prompt: str, message: str) -> None:
    with pytest.raises(FormError, match=re.escape(message)):
        parse_form(prompt)


def test_form_error_is_a_value_error() -> None:
    assert issubclass(FormError, ValueError)


# -- rule-breaks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "modal", "displaced"),
    [
        ("borrowed chords in the bridge", {"bridge"}, set()),
        ("a borrowed chord in the chorus", {"chorus"}, set()),
        ("modal interchange in the bridge", {"bridge"}, set()),
        ("some modal mixture during the middle eight", {"bridge"}, set()),
        ("displaced accents in the verse", set(), {"verse"}),
        ("off-beat accents in the chorus", set(), {"chorus"}),
        ("rhythmic displacement in the verses and the bridge", set(), {"verse", "bridge"}),
        ("a displaced melody in every chorus, borrowed chords in the solo", {"solo"}, {"chorus"}),
    ],
)
def test_a_rule_break_asked_for_a_type(prompt: str, modal: set[str], displaced: set[str]) -> None:
    form = parse_form(prompt)
    assert (form.modal_interchange, form.displacement) == (frozenset(modal), frozenset(displaced))
    assert form.mentions == frozenset(modal | displaced), "a rule-break's section is named"


@pytest.mark.parametrize(
    "prompt",
    [
        "a borrowed chord here and there",  # no section
        "rhythmic displacement throughout",
        "a syncopated, off-the-beat chorus",  # not one of the clear phrases
        "syncopated accents in the verse",
        "borrowed chords in the last chorus",  # a position
        "a borrowed guitar in the chorus",
        "accents in the verse",
        "[chorus: syncopated]",
    ],
)
def test_words_that_ask_no_rule_break(prompt: str) -> None:
    form = parse_form(prompt)
    assert (form.modal_interchange, form.displacement) == (frozenset(), frozenset())
    assert not any(s.modal_interchange or s.displacement for s in form.sections)


def test_a_tag_asks_a_rule_break_for_its_own_section() -> None:
    form = parse_form("[verse] [bridge: borrowed chords] [chorus - modal interchange] [verse: displaced accents] "
                      "[chorus]")
    assert [(s.modal_interchange, s.displacement) for s in form.sections] == [
        (False, False), (True, False), (True, False), (False, True), (False, False)]
    assert form.sections[1] == SectionRequest("bridge", "borrowed chords", modal_interchange=True)
    # A type is the form's only where every one of its sections asks.
    assert (form.modal_interchange, form.displacement) == (frozenset({"bridge"}), frozenset())


def test_a_rule_break_in_words_marks_every_section_of_its_type_in_the_form() -> None:
    form = parse_form("verse, chorus, verse, chorus, bridge, chorus, with off-beat accents in the choruses")
    assert [s.displacement for s in form.sections] == [False, True, False, True, False, True]
    assert form.displacement == frozenset({"chorus"}) and form.modal_interchange == frozenset()


def test_a_rule_break_for_a_type_the_form_lacks_is_an_error() -> None:
    with pytest.raises(FormError, match=re.escape('the form asked, "[verse] [chorus]", has no bridge')):
        parse_form("[verse] [chorus], borrowed chords in the bridge")


def test_words_for_every_section_of_a_type_describe_them_all():
    form = parse_form("rock at 100 bpm, verse chorus verse chorus, the verses quiet with no drums "
                      "and the choruses loud with drums")
    assert [(s.type, s.energy, s.drums) for s in form.sections] == [
        ("verse", LOW_ENERGY, False), ("chorus", HIGH_ENERGY, True), ("verse", LOW_ENERGY, False),
        ("chorus", HIGH_ENERGY, True)]
    open_form = parse_form("a pop song where the verses are soft and drumless and the chorus is loud with drums")
    assert not open_form.sections and open_form.mentions == {"verse", "chorus"}
    assert (open_form.described["verse"].energy, open_form.described["verse"].drums) == (LOW_ENERGY, False)
    assert (open_form.described["chorus"].energy, open_form.described["chorus"].drums) == (HIGH_ENERGY, True)
    # Words that say nothing of energy or drums, and where the piece ends, are no description.
    assert parse_form("a song that ends on the chorus with drums").ends_on == "chorus"
    assert parse_form("verse, chorus, then the chorus again").described == {}
    # A section's own words win over its type's.
    tagged = parse_form("[verse: loud] [verse] [chorus], the verses quiet")
    assert [s.energy for s in tagged.sections] == [HIGH_ENERGY, LOW_ENERGY, None]


def test_two_different_descriptions_of_one_type_are_refused():
    with pytest.raises(FormError, match="contradicts"):
        parse_form("verse, chorus, verse, chorus; the verses quiet, the verses loud")


def test_forms_people_typed_in_the_eval_set_that_were_missed_at_first():
    """From evaluation/prompts/form.jsonl's first run (f08, f19, f27)."""
    at_end = parse_form("two verses and a chorus at the end please, mellow electric piano")
    assert at_end.counts == {"verse": 2} and at_end.ends_on == "chorus"
    trailing = parse_form("lounge jazz: intro, then a verse with displaced accents, then a chorus, then an outro")
    assert [(s.type, s.displacement) for s in trailing.sections] == [
        ("intro", False), ("verse", True), ("chorus", False), ("outro", False)]
    owner = parse_form("sad piano ballad where the chorus uses modal interchange")
    assert owner.modal_interchange == {"chorus"} and "chorus" in owner.mentions
    # An ingredient list with a "with" inside stays a list of ingredients.
    assert not parse_form("a song with a verse with strings, a chorus and a bridge").sections
