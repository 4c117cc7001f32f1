"""The form prompt set (evaluation/prompts/form.jsonl) and the "form" field
of the prompt schema: what issue 27's figures need, written as people type,
and strict about hand-written mistakes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hiermusic.evaluation.form_check import RETURNS_MIN_S
from hiermusic.evaluation.prompt_set import STANDARD, AskedForm, PromptSetError, load_prompts
from hiermusic.services.common.music import SECTION_TYPES, key_index
from hiermusic.services.semantic.prompt import parse_prompt
from tests.evaluation.training_captions import MAX_TRIGRAM_JACCARD, closest_caption_likeness, is_a_caption

FORM = STANDARD.parent / "form.jsonl"


@pytest.fixture(scope="module")
def prompts():
    return load_prompts(FORM)


def test_the_set_covers_what_issue_27_measures(prompts):
    forms = [p.form for p in prompts]
    assert all(f.asked for f in forms)
    assert sum(f.structural for f in forms) >= 20
    assert sum(bool(f.order) for f in forms) >= 10 and sum(bool(f.counts) for f in forms) >= 3
    assert sum(f.extended_intro for f in forms) >= 3 and sum(f.abrupt_ending for f in forms) >= 3
    assert all(sum(bool(getattr(f, name)) for f in forms) >= 1
               for name in ("ends_on", "bridge_before_last_chorus", "no_intro", "modal_interchange", "displacement"))
    # The loudness and drums contrasts: a quiet drumless verse and a loud chorus with drums.
    contrasts = [f for f in forms if f.loud == ("chorus",) and f.quiet == ("verse",)
                 and f.drums_in == ("chorus",) and f.drums_out == ("verse",)]
    assert len(contrasts) >= 5
    assert sum(f.open_form and p.duration_s >= RETURNS_MIN_S for f, p in zip(forms, prompts)) >= 10
    durations = [p.duration_s for p in prompts]
    assert 30 <= min(durations) and max(durations) <= 90 and sum(d <= 60 for d in durations) >= 0.9 * len(prompts)


def test_open_form_prompts_name_no_section(prompts):
    words = re.compile(r"\b(?:" + "|".join(SECTION_TYPES) + r"|ending|ends|refrain|hook|coda)\b", re.IGNORECASE)
    for p in prompts:
        if p.form.open_form:
            assert not words.search(p.prompt), p


def test_the_text_says_the_tempo_and_key_its_attributes_claim(prompts):
    for p in prompts:
        a, said = p.attributes, parse_prompt(p.prompt)
        assert said.tempo_bpm == a.tempo_bpm, p
        assert said.mode == a.mode, p
        assert (said.key is None) == (a.key is None), p
        if a.key is not None:
            assert key_index(said.key) == key_index(a.key), p


def test_no_prompt_is_or_resembles_a_training_caption(prompts):
    """As tests/evaluation/test_prompt_set.py holds the other sets to."""
    for p in prompts:
        assert not is_a_caption(p.prompt), p
        assert closest_caption_likeness(p.prompt) < MAX_TRIGRAM_JACCARD, p.prompt


@pytest.mark.parametrize("name", ["standard.jsonl", "no_drums.jsonl", "tempo_mode.jsonl"])
def test_sets_without_a_form_still_load_and_ask_none(name):
    assert not any(p.form.asked for p in load_prompts(STANDARD.parent / name))


def _load(tmp_path: Path, form: object) -> list:
    path = tmp_path / "prompts.jsonl"
    good = {"id": "a", "prompt": "verse then chorus", "duration_s": 30}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "b", "form": form}) + "\n")
    return load_prompts(path)


def test_a_good_form_loads(tmp_path):
    form = {"order": ["verse", "chorus", "verse", "chorus"], "counts": {"verse": 2}, "ends_on": "chorus",
            "loud": ["chorus"], "quiet": ["verse"]}
    asked = _load(tmp_path, form)[1].form
    assert asked == AskedForm(order=("verse", "chorus", "verse", "chorus"), counts={"verse": 2}, ends_on="chorus",
                              loud=("chorus",), quiet=("verse",))
    assert asked.structural and not AskedForm(loud=("chorus",), quiet=("verse",)).structural


@pytest.mark.parametrize("form, message", [
    ([], "form must be an object"),
    ({"shape": ["verse"]}, "unknown form field"),
    ({"order": ["verse", "drop"]}, "unknown order"),
    ({"has": ["chorus", "chorus"]}, "names a type twice"),
    ({"counts": {"verse": -1}}, "whole numbers"),
    ({"counts": {"verse": True}}, "whole numbers"),
    ({"counts": {"middle": 1}}, "unknown counts"),
    ({"ends_on": "finale"}, "ends_on must be one of"),
    ({"no_intro": "yes"}, "no_intro must be true or false"),
    ({"loud": ["chorus"]}, "loud and quiet come together"),
    ({"drums_in": ["chorus"], "drums_out": ["chorus"]}, "in both drums_in and drums_out"),
    ({"no_intro": True, "extended_intro": True}, "no_intro contradicts"),
    ({"abrupt_ending": True, "has": ["outro"]}, "both asked for and ruled out"),
    ({"open_form": True, "has": ["chorus"]}, "open_form states no form"),
    ({"order": ["verse", "chorus"], "counts": {"verse": 2}}, "contradicts verse x2"),
    ({"order": ["verse", "chorus", "verse"], "ends_on": "chorus"}, "contradicts ends_on"),
    ({"order": ["verse", "chorus"], "modal_interchange": ["bridge"]}, "contradicts bridge"),
    ({"order": ["verse", "bridge", "verse", "chorus"], "bridge_before_last_chorus": True}, "bridge_before_last"),
])
def test_mistakes_name_the_file_and_line(tmp_path, form, message):
    with pytest.raises(PromptSetError, match=rf"prompts\.jsonl:2: .*{message}"):
        _load(tmp_path, form)
