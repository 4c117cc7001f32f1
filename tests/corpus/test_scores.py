"""Scores from music21's corpus: selection, rendering and labels."""
from __future__ import annotations

import re
import time
from itertools import pairwise

import pytest
from music21 import converter, corpus, expressions

from hiermusic.corpus.performance import TIMBRES
from hiermusic.corpus.score_timeline import play, strain_starts
from hiermusic.corpus.scores import CAP_S, TAIL_S, ScoreError, ScoreRef, list_scores, load_score
from hiermusic.services.common.music import KEYS, MODES

CHORALE = ScoreRef("bach", "bach/bwv66.6.mxl")
JIG = ScoreRef("oneills", "oneills1850/0900-0950.abc", 914)  # "Off She Goes!", |: A :|: B :|
MANY_STRAINS = ScoreRef("oneills", "oneills1850/1031-1115.abc", 1046)  # "Morgan Rattler": ten strains
ESSEN = ScoreRef("essen", "essenFolksong/altdeu10.abc", 1)  # one phrase per ABC line


def test_list_scores_is_deterministic_cheap_and_mixed():
    started = time.perf_counter()
    first = list_scores(200, seed=1)
    assert time.perf_counter() - started < 5.0
    assert first == list_scores(200, seed=1)
    assert first != list_scores(200, seed=2)
    assert len(first) == 200
    assert len({r.song_id for r in first}) == 200
    collections = {r.collection for r in first}
    assert {"bach", "essen", "oneills", "ryans"} <= collections and len(collections) >= 6
    # Multi-tune files are split: several tunes of one Essen or O'Neill file are separate items.
    numbered = [r for r in list_scores(None, seed=0) if r.path == "essenFolksong/altdeu10.abc"]
    assert len(numbered) > 100 and len({r.number for r in numbered}) == len(numbered)


def test_chorale_notes_tempo_key_and_fermata_phrases():
    performance, labels = load_score(CHORALE, seed=0)
    assert labels.song_id == "score-bach-bwv66.6" and labels.source == "score"
    assert performance.notes and performance.duration_s == labels.duration_s
    for n in performance.notes:
        assert 0 <= n.onset_s and n.onset_s + n.duration_s <= performance.duration_s
        assert n.timbre in TIMBRES and 0 < n.velocity <= 1
    assert 60 <= labels.tempo_bpm <= 84
    score = corpus.parse(CHORALE.path)
    analysed = score.analyze("key")
    assert (labels.key, labels.mode) == (KEYS[analysed.tonic.pitchClass], analysed.mode)
    assert labels.key in KEYS and labels.mode in MODES

    # Beats every quarter (4/4), bar lines every four, after a one-beat pickup.
    quarter = 60 / labels.tempo_bpm
    assert labels.beats == pytest.approx([i * quarter for i in range(len(labels.beats))], abs=1e-3)
    assert labels.downbeats[:2] == pytest.approx([quarter, 5 * quarter], abs=1e-3)

    # One phrase per fermata of the soprano, covering the piece without gaps.
    soprano = score.parts[0].flatten().notes
    fermata_ends = [float(n.offset + n.quarterLength) for n in soprano
                    if any(isinstance(e, expressions.Fermata) for e in n.expressions)]
    sections = labels.sections
    assert [s.type for s in sections] == ["phrase"] * len(fermata_ends)
    assert sections[0].start_s == 0 and sections[-1].end_s == labels.duration_s
    assert all(a.end_s == b.start_s for a, b in pairwise(sections))
    assert [s.end_s for s in sections[:-1]] == pytest.approx([t * quarter for t in fermata_ends[:-1]], abs=1e-3)
    assert all(0 <= s.energy <= 1 and s.bars >= 1 for s in sections)


def test_same_seed_same_piece_other_seeds_vary():
    assert load_score(CHORALE, seed=3) == load_score(CHORALE, seed=3)
    drawn = {(labels.tempo_bpm, tuple(labels.instruments)) for _, labels in (load_score(CHORALE, s) for s in range(6))}
    assert len(drawn) >= 3


def test_jig_has_repeated_strains_and_says_what_it_is():
    performance, labels = load_score(JIG, seed=0)
    assert [s.type for s in labels.sections] == ["A", "A", "B", "B"]
    assert [s.repeat_of for s in labels.sections] == [-1, 0, -1, 2]
    assert [s.bars for s in labels.sections] == [8, 8, 8, 8]
    assert labels.style == "folk" and labels.meta["form"] == "jig" and labels.meta["collection"] == "oneills"
    assert labels.meta["tune_number"] == "914" and labels.meta["title"] == "Off She Goes!"
    assert "jig" in labels.caption.lower()
    # 6/8: two dotted-quarter beats a bar.
    assert len(labels.beats) == 2 * len(labels.downbeats)
    assert "lead" in {n.part for n in performance.notes}


def test_essen_song_phrases_follow_its_lines():
    _, labels = load_score(ESSEN, seed=0)
    text = (corpus.getComposer("essenFolksong")[0].parent / "altdeu10.abc").read_text()
    tune = text.split("X:2")[0]
    music_lines = [ln for ln in tune.splitlines() if ln.strip() and not re.match(r"^[A-Za-z]:", ln)]
    assert [s.type for s in labels.sections] == ["phrase"] * len(music_lines)
    assert "ballad" in labels.caption.lower() or "folk" in labels.caption.lower()
    assert labels.meta["title"] == "Das Hildebrandslied"


def test_many_strain_tune_loads_quickly():
    started = time.perf_counter()
    _, labels = load_score(MANY_STRAINS, seed=0)
    assert time.perf_counter() - started < 5.0  # music21's expandRepeats took 16 s here
    assert len({s.type for s in labels.sections}) >= 8
    assert all(labels.sections[s.repeat_of].type == s.type for s in labels.sections if s.repeat_of >= 0)


def test_repeats_and_endings_are_played_in_order_and_cut_at_the_cap():
    abc = "X:1\nT:t\nM:2/4\nL:1/8\nK:D\n|: A2B2 | c2d2 |1 e2f2 :|2 g2a2 |: b2a2 | g2f2 |1 e2d2 :|2 d4 |]\n"
    score = converter.parse(abc, format="abc")
    timeline = play(score, cap=1e9, bar_length=2.0)
    assert [b.number for b in timeline.bars] == [0, 1, 2, 0, 1, 3, 4, 5, 6, 4, 5, 7]
    assert not timeline.truncated and timeline.end == 24.0
    assert strain_starts(score.parts[0]) == {4}  # second endings close a strain, they do not start one
    cut = play(score, cap=7.0, bar_length=2.0)
    assert [b.number for b in cut.bars] == [0, 1, 2] and cut.end == 6.0 and cut.truncated


def test_long_piece_is_cut_at_a_bar_line_before_the_cap():
    performance, labels = load_score(ScoreRef("palestrina", "palestrina/Credo_34.krn"), seed=0)
    assert labels.meta["truncated"] == "true"
    assert labels.duration_s <= CAP_S + TAIL_S
    assert labels.duration_s - TAIL_S == pytest.approx(max(performance.notes, key=lambda n: n.onset_s).onset_s, abs=20)
    assert min(abs(labels.duration_s - TAIL_S - d) for d in labels.downbeats + [labels.duration_s - TAIL_S]) < 1e-3


def test_captions_vary_across_pieces():
    refs = [r for r in list_scores(80, seed=5) if r.collection not in ("quartet", "monteverdi", "palestrina")][:16]
    captions = [load_score(r, seed=0)[1].caption for r in refs]
    assert len(set(captions)) == len(captions)
    assert len({c.split()[0] for c in captions}) >= 4  # not one sentence shape
    assert 3 <= sum(bool(re.search(r"\b[A-G][#b]? (major|minor|dorian|mixolydian)\b", c)) for c in captions) <= 13
    assert min(map(len, captions)) < 60 < max(map(len, captions))


def test_bad_refs_raise_score_error_naming_them():
    with pytest.raises(ScoreError, match="score-bach-nosuch"):
        load_score(ScoreRef("bach", "bach/nosuch.mxl"), seed=0)
    with pytest.raises(ScoreError, match="altdeu10"):
        load_score(ScoreRef("essen", "essenFolksong/altdeu10.abc", 99999), seed=0)
    with pytest.raises(ScoreError, match="unknown collection"):
        load_score(ScoreRef("nosuch", "bach/bwv66.6.mxl"), seed=0)
