from __future__ import annotations

from collections import Counter

import pytest

from hiermusic.corpus.performance import TIMBRES
from hiermusic.corpus.song_spec import (
    DURATION_RANGE_S,
    MOODS,
    RULE_BREAKS,
    SCALES,
    STYLES,
    VARIATIONS,
    SongSpec,
    STYLE_FREE_TEMPO,
    compose_spec,
    style_free,
)
from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES
from hiermusic.services.semantic.planner import BAR_CHOICES

SEEDS = range(300)


@pytest.fixture(scope="module")
def specs() -> list[SongSpec]:
    return [compose_spec(seed) for seed in SEEDS]


def test_same_seed_same_spec_and_seed_zero_is_pinned():
    assert compose_spec(7) == compose_spec(7)
    # A change here changes every song of every corpus: bump song_spec.GENERATOR with it.
    spec = compose_spec(0)
    assert (spec.style, spec.mood, spec.tempo_bpm, spec.key, spec.mode) == ("folk", "calm", 84, "Eb", "major")
    assert [(s.type, s.bars) for s in spec.sections] == [
        ("intro", 2), ("verse", 8), ("pre-chorus", 4), ("chorus", 8), ("verse", 8), ("pre-chorus", 4),
        ("chorus", 8), ("bridge", 4), ("chorus", 8), ("outro", 4)]
    assert [c.name for c in spec.material["verse"].progression] == ["Eb:maj", "Bb:7", "C:min", "Ab:maj"]


def test_different_seeds_give_different_songs(specs):
    fingerprints = {(s.style, s.mood, s.tempo_bpm, s.key, s.mode, tuple((x.type, x.bars) for x in s.sections))
                    for s in specs[:100]}
    assert len(fingerprints) >= 98


def test_every_vocabulary_appears(specs):
    assert {s.style for s in specs} == set(STYLES)
    assert {s.mood for s in specs} == set(MOODS)
    assert {s.mode for s in specs} == set(MODES) == set(SCALES)
    assert {s.key for s in specs} == set(KEYS)
    assert {x.type for s in specs for x in s.sections} == set(SECTION_TYPES)
    assert {b for s in specs for b in s.rule_breaks} == set(RULE_BREAKS)
    assert {x.variation for s in specs for x in s.sections} == set(VARIATIONS) | {None}
    timbres = {t for s in specs for t in (s.instruments.lead, s.instruments.bass, s.instruments.harmony)}
    assert timbres == set(TIMBRES)
    assert {s.instruments.drums for s in specs} == {True, False}


def test_styles_shape_tempo_drums_and_harmony(specs):
    by_style = {style: [s for s in specs if s.style == style] for style in STYLES}
    assert all(60 <= s.tempo_bpm <= 180 for s in specs)
    mean_tempo = {k: sum(s.tempo_bpm for s in v) / len(v) for k, v in by_style.items()}
    assert mean_tempo["ambient"] < mean_tempo["pop"] < mean_tempo["rock"]
    drum_share = {k: sum(s.instruments.drums for s in v) / len(v) for k, v in by_style.items()}
    assert drum_share["classical"] < 0.3 and drum_share["ambient"] < 0.5 and drum_share["rock"] == 1.0
    qualities = {k: Counter(c.quality for s in v for m in s.material.values() for c in m.progression)
                 for k, v in by_style.items()}
    assert set(qualities["jazz"]) <= {"maj7", "min7", "7", "hdim7"}
    assert qualities["rock"]["5"] > 0.5 * sum(qualities["rock"].values())


def test_form_lasts_1_5_to_4_minutes_in_planner_bar_lengths(specs):
    low, high = DURATION_RANGE_S
    assert all(low <= s.duration_s <= high for s in specs)
    assert {x.bars for s in specs for x in s.sections} <= set(BAR_CHOICES)
    assert all(s.sections[0].occurrence == 0 for s in specs)


def test_chorus_carries_more_energy_than_verse_and_intro(specs):
    for s in specs:
        energy = {x.type: x.energy for x in s.sections if x.occurrence == 0}
        assert energy["chorus"] > energy["verse"]
        if "intro" in energy:
            assert energy["intro"] < energy["chorus"]
        assert all(0.0 <= x.energy <= 1.0 for x in s.sections)


def test_each_section_type_owns_its_progression_and_motif(specs):
    for s in specs:
        motifs = [m.motif for m in s.material.values()]
        assert len(set(motifs)) == len(motifs)
        for m in s.material.values():
            assert m.motif and all(0 <= n.start < 8 and n.start + n.length <= 8 for n in m.motif)
        progressions = [tuple(c.degree for c in m.progression) for m in s.material.values()]
        assert len(set(progressions)) == len(progressions)


def test_chords_are_realised_in_the_key_and_mode(specs):
    for s in specs:
        tonic = KEYS.index(s.key)
        assert s.tonic_chord.root == tonic
        for m in s.material.values():
            for chord in m.progression:
                if chord.scale == s.mode:
                    assert chord.root == (tonic + SCALES[s.mode][chord.degree]) % 12


def test_rule_breaks_are_labelled_exactly_when_present(specs):
    for s in specs:
        intro = [x for x in s.sections if x.type == "intro"]
        assert ("extended_intro" in s.rule_breaks) == bool(intro and intro[0].bars >= 12)
        if "abrupt_ending" in s.rule_breaks:
            assert "outro" not in {x.type for x in s.sections}
        borrowed = [c for m in s.material.values() for c in m.progression if c.scale != s.mode]
        assert ("modal_interchange" in s.rule_breaks) == bool(borrowed)
        displaced = [x for x in s.sections if x.displacement]
        assert ("rhythmic_displacement" in s.rule_breaks) == (len(displaced) == 1)
        assert all(x.displacement in (0.5, 1.0) for x in displaced)
    share = Counter(b for s in specs for b in s.rule_breaks)
    assert all(0.05 < share[b] / len(specs) < 0.3 for b in RULE_BREAKS)


def test_returns_vary_but_first_occurrences_do_not(specs):
    for s in specs:
        assert all(x.variation is None for x in s.sections if x.occurrence == 0)


def test_style_free_songs_take_any_tempo_and_drums_whatever_their_style(specs):
    free = [style_free(spec) for spec in specs]
    assert free[0] == style_free(compose_spec(SEEDS[0])) and all(f.style_free for f in free)
    for spec, f in zip(specs, free, strict=True):
        assert (f.style, f.key, f.mode, f.sections) == (spec.style, spec.key, spec.mode, spec.sections)
        assert STYLE_FREE_TEMPO[0] <= f.tempo_bpm <= STYLE_FREE_TEMPO[1]
    by_style = {style: [f for f in free if f.style == style] for style in ("pop", "rock", "electronic")}
    for style, songs in by_style.items():
        drums = sum(f.instruments.drums for f in songs)
        assert 0.25 * len(songs) < drums < 0.75 * len(songs), style  # composed: (nearly) always drums
        assert min(f.tempo_bpm for f in songs) < 70, style  # composed: never below 78
