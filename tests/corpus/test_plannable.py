from __future__ import annotations

from dataclasses import replace

from hiermusic.corpus.labels import SectionLabel
from hiermusic.corpus.plannable import plannable, unplannable
from tests.corpus.short_song import short_song


def test_labels_a_plan_cannot_have_get_the_planner_s_defaults() -> None:
    score = replace(short_song("s"), key="H", mode="aeolian", tempo_bpm=None,
                    sections=[SectionLabel("phrase", 0.0, 1.0, 0, -1.0), SectionLabel("chorus", 1.0, 2.08, 2, 0.9)])
    filled = plannable(score)
    assert (filled.key, filled.mode, filled.tempo_bpm) == ("C", "major", 120.0)
    assert [(s.type, s.bars, s.energy) for s in filled.sections] == [("verse", 1, 0.5), ("chorus", 2, 0.9)]
    assert plannable(short_song("fine")) == short_song("fine")
    bare = plannable(replace(short_song("u"), sections=[]))
    assert [(s.type, s.start_s, s.end_s) for s in bare.sections] == [("verse", 0.0, bare.duration_s)]


def test_unplannable_says_what_the_labels_lack() -> None:
    assert unplannable(short_song("fine")) is None
    assert unplannable(replace(short_song("t"), tempo_bpm=None)) == "no tempo, key or mode"
    assert unplannable(replace(short_song("k"), key="H")) == "a key the planner cannot name"
    assert unplannable(replace(short_song("s"), sections=[])) == "no sections of the planner's types"
    assert unplannable(plannable(replace(short_song("s"), sections=[]))) is None
