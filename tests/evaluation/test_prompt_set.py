from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hiermusic.corpus.song_spec import MOODS, STYLES
from hiermusic.evaluation.prompt_set import (
    STANDARD,
    EvalPrompt,
    AskedAttributes,
    PromptSetError,
    load_prompts,
)
from hiermusic.services.common.music import key_index
from hiermusic.services.semantic.prompt import parse_prompt
from tests.evaluation.training_captions import MAX_TRIGRAM_JACCARD, closest_caption_likeness, is_a_caption

# Largest word-trigram Jaccard between a standard prompt and any of the 2000
# captions, measured when the set was written: 0.18 ("baroque-style harpsichord
# piece in Bb major" against a caption ending "chamber piece in Bb major"; the
# shared trigrams are the key). Most prompts share no trigram with any caption:
# MAX_TRIGRAM_JACCARD in training_captions.py.
# Words the text must hold for each structure request (the wording varies).
STRUCTURE_WORDS = {"bridge": ("bridge",), "chorus": ("chorus",), "intro": ("intro",), "outro": ("outro",),
                   "solo": ("solo",), "extended intro": ("intro",), "repeated chorus": ("chorus",),
                   "abrupt ending": ("abrupt", "sudden", "stops", "cuts off")}
NO_DRUM_WORDS = ("no drums", "no drum kit", "no percussion", "without drums", "without percussion", "drumless",
                 "no beat")
# The other bundled sets: "no drums" in styles the corpus nearly always drums,
# and the standard prompts a multi-seed run of tempo and mode repeats.
OTHER_SETS = ("no_drums.jsonl", "tempo_mode.jsonl")


@pytest.fixture(scope="module")
def prompts() -> list[EvalPrompt]:
    return load_prompts()


def test_the_standard_set_covers_every_attribute(prompts):
    assert len(prompts) >= 60
    attrs = [p.attributes for p in prompts]
    styles = Counter(a.style for a in attrs)
    moods = Counter(a.mood for a in attrs)
    assert all(styles[s] >= 6 for s in STYLES), styles
    assert all(moods[m] >= 4 for m in MOODS), moods
    tempos = [a.tempo_bpm for a in attrs if a.tempo_bpm is not None]
    assert len(tempos) >= 20 and min(tempos) >= 60 and max(tempos) <= 180
    assert sum(a.mode is not None for a in attrs) >= 20
    # Both ways of naming a mode: with a tonic ("in E minor") and alone ("minor key").
    assert sum(a.key is not None for a in attrs) >= 8 and sum(a.mode is not None and a.key is None for a in attrs) >= 5
    assert sum(a.drums is False for a in attrs) >= 8
    assert sum(a.drums is True for a in attrs) >= 10
    assert sum(bool(a.structure) for a in attrs) >= 12
    durations = Counter(p.duration_s for p in prompts)
    assert durations[30.0] > len(prompts) / 2 and {20.0, 45.0, 60.0, 90.0} <= set(durations)


def test_the_first_ten_make_a_short_run_that_covers_the_checks(prompts):
    quick = load_prompts(limit=10)
    assert quick == prompts[:10]
    assert all(p.duration_s <= 30 for p in quick)
    attrs = [p.attributes for p in quick]
    assert any(a.tempo_bpm for a in attrs) and any(a.mode for a in attrs)
    assert any(a.drums is False for a in attrs) and any(a.structure for a in attrs)


@pytest.fixture(scope="module", params=("standard.jsonl",) + OTHER_SETS)
def every_set(request) -> list[EvalPrompt]:
    return load_prompts(STANDARD.parent / request.param)


def test_the_text_says_what_the_attributes_claim(every_set):
    for p in every_set:
        a, said, text = p.attributes, parse_prompt(p.prompt), p.prompt.lower()
        # Stated tempo, key and mode are read back exactly, and none is read where none is claimed.
        assert said.tempo_bpm == a.tempo_bpm, p
        assert said.mode == a.mode, p
        assert (said.key is None) == (a.key is None), p
        if a.key is not None:
            assert key_index(said.key) == key_index(a.key), p
        if a.drums is False:
            assert any(w in text for w in NO_DRUM_WORDS), p
        for request in a.structure:
            assert any(w in text for w in STRUCTURE_WORDS[request]), (request, p)


def test_no_prompt_is_or_resembles_a_training_caption(every_set):
    for p in every_set:
        assert not is_a_caption(p.prompt), p
        worst = closest_caption_likeness(p.prompt)
        assert worst < MAX_TRIGRAM_JACCARD, (p.prompt, worst)


def _line(**overrides: object) -> str:
    record = {"id": "x1", "prompt": "slow piano", "duration_s": 30, "attributes": {"mood": "calm"}}
    record.update(overrides)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_valid_file_loads_with_limit_and_blank_lines(tmp_path):
    path = _write(tmp_path, _line(), "", _line(id="x2", attributes={"tempo_bpm": 90, "instruments": ["piano"],
                                                                      "structure": ["outro"], "drums": False}))
    loaded = load_prompts(path)
    assert [p.id for p in loaded] == ["x1", "x2"]
    assert loaded[1].attributes == AskedAttributes(tempo_bpm=90.0, instruments=("piano",), drums=False,
                                                    structure=("outro",))
    assert load_prompts(path, limit=1) == loaded[:1]
    with pytest.raises(ValueError, match="limit"):
        load_prompts(path, limit=0)


BAD_LINES = {
    "bad json": ('{"id": "x2", "prompt": ', "not valid JSON"),
    "not an object": ("[1, 2]", "JSON object"),
    "attributes as list": (_line(id="x2", attributes=["calm"]), "attributes"),
    "missing prompt": (_line(id="x2", prompt=...), "prompt"),
    "empty prompt": (_line(id="x2", prompt="  "), "prompt"),
    "duplicate id": (_line(), "duplicate id"),
    "zero duration": (_line(id="x2", duration_s=0), "duration_s"),
    "long duration": (_line(id="x2", duration_s=601), "duration_s"),
    "text duration": (_line(id="x2", duration_s="30"), "duration_s"),
    "unknown attribute": (_line(id="x2", attributes={"genre": "pop"}), "genre"),
    "unknown field": (_line(id="x2", extra=1), "extra"),
    "tempo as text": (_line(id="x2", attributes={"tempo_bpm": "fast"}), "tempo_bpm"),
    "drums as text": (_line(id="x2", attributes={"drums": "no"}), "drums"),
    "instruments as text": (_line(id="x2", attributes={"instruments": "piano"}), "instruments"),
    "bad mode": (_line(id="x2", attributes={"mode": "dorian"}), "mode"),
    "bad key": (_line(id="x2", attributes={"key": "H"}), "key"),
    "bad style": (_line(id="x2", attributes={"style": "polka"}), "style"),
    "bad mood": (_line(id="x2", attributes={"mood": "angry"}), "mood"),
    "bad instrument": (_line(id="x2", attributes={"instruments": ["kazoo"]}), "kazoo"),
    "bad structure": (_line(id="x2", attributes={"structure": ["verse"]}), "verse"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_each_mistake_is_reported_with_file_and_line(tmp_path, case):
    bad, words = BAD_LINES[case]
    path = _write(tmp_path, _line(), bad)
    with pytest.raises(PromptSetError) as error:
        load_prompts(path)
    assert f"{path}:2:" in str(error.value) and words in str(error.value)


def test_an_empty_file_is_an_error(tmp_path):
    with pytest.raises(PromptSetError, match="no prompts"):
        load_prompts(_write(tmp_path, "", "  "))


def test_the_other_sets_are_what_they_say(prompts):
    no_drums = load_prompts(STANDARD.parent / "no_drums.jsonl")
    assert len(no_drums) == 10 and all(p.attributes.drums is False for p in no_drums)
    assert {p.attributes.style for p in no_drums} == {"pop", "rock", "jazz", "electronic", "folk"}
    asking = [p for p in prompts[:30] if p.attributes.tempo_bpm is not None or p.attributes.mode is not None]
    assert load_prompts(STANDARD.parent / "tempo_mode.jsonl") == asking


def test_the_standard_path_is_bundled():
    assert STANDARD.is_file() and STANDARD.name == "standard.jsonl"
