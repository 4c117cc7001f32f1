"""estimate_tempo recovers the composed tempo of corpus songs, says "no
steady beat" where there is none, and tempo_error keeps octave mistakes apart
from misses."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.corpus.synth import render
from hiermusic.evaluation.tempo import TempoError, _harmonic_change, estimate_tempo, tempo_error

SR = 24000
EXCERPT_S = 40
STYLE_FREE_SONGS = 20


@pytest.fixture(scope="module")
def errors(corpus_songs) -> list[TempoError]:
    return [tempo_error(estimate_tempo(audio[: EXCERPT_S * SR]).bpm, labels.tempo_bpm)
            for labels, audio in corpus_songs]


@pytest.fixture(scope="module")
def style_free_errors() -> list[TempoError]:
    """Held-out songs (seeds 6000..) at a tempo drawn from 60-180 bpm whatever
    their style, as bench/tempo_octaves.py makes them, kept where it is below
    80 or from 150 bpm: slow songs with drums and fast ambient ones, which the
    corpus has few of and prompts ask for."""
    out, seed = [], 6000
    while len(out) < STYLE_FREE_SONGS:
        bpm = int(np.random.default_rng(seed + 777).integers(60, 181))
        if not 80 <= bpm < 150:
            performance, labels = arrange(dataclasses.replace(compose_spec(seed), tempo_bpm=bpm))
            out.append(tempo_error(estimate_tempo(render(performance, seed)[: EXCERPT_S * SR]).bpm, bpm))
        seed += 1
    return out


def test_tempo_within_4_percent_allowing_octaves(errors):
    """Measured when written: 23/24 (the miss is an ambient song whose first
    40 s have no steady beat: None, not a wrong number); 95/100 on seeds 0-99."""
    hits = sum(e.within_octave for e in errors)
    assert hits / len(errors) >= 0.9, f"{hits}/{len(errors)}"


def test_most_tempi_are_found_at_the_labelled_octave(errors):
    """The beat chosen among the tracker's multiples. Measured when written:
    21/24 at the labelled octave, 2 double (64 and 83 bpm), 1 none; 22/24
    with the two-beat correlation, and with the onsets per beat (1 half,
    1 none); the tracker's own tempo: 14/24, 6 half, 3 double, 1 none."""
    same = sum(e.within for e in errors)
    assert same / len(errors) >= 0.75, f"{same}/{len(errors)}"


def test_slow_and_fast_tempi_are_found_whatever_the_style(style_free_errors):
    """Measured when written: 16/20 at the labelled tempo (seeds 6000-6048);
    7/20 before the onsets-per-beat feature and the style-free fit, which
    read slow drummed songs at double and fast ambient ones at half."""
    same = sum(e.within for e in style_free_errors)
    assert same >= 14, f"{same}/{len(style_free_errors)}"


def test_reported_tempi_are_precise_to_a_fraction_of_the_lag_grid(corpus_songs):
    """Refined between the tracker's lag frames (~4% apart at 130 bpm).
    Measured when written: median error 0.19% on 100 held-out songs against
    the tracker's 0.93% (bench/tempo_octaves.py); 0.22% with the two-beat
    correlation."""
    found = [(estimate_tempo(audio[: EXCERPT_S * SR]).bpm, labels.tempo_bpm) for labels, audio in corpus_songs]
    close = [tempo_error(bpm, target, tolerance=0.01).within_octave for bpm, target in found if bpm is not None]
    assert sum(close) / len(close) >= 0.8, f"{sum(close)}/{len(close)}"


def test_a_reported_tempo_is_right_up_to_an_octave(errors):
    """The confidence gate turns the tracker's wrong answers into None.
    Measured when written: every reported tempo of 24 (and of seeds 0-99) was
    within 4% at 1x, 2x or 0.5x."""
    wrong = [e for e in errors if e.octave != "none" and not e.within_octave]
    assert not wrong, wrong


def test_white_noise_has_no_steady_beat(white_noise):
    """Measured when written: confidence 0.023 here; <= 0.058 over 20 noise
    clips of 10 and 30 s; STEADY_BEAT is 0.08."""
    estimate = estimate_tempo(white_noise)
    assert estimate.bpm is None and estimate.reason == "no steady beat", estimate


def test_silence_has_no_tempo(silence):
    estimate = estimate_tempo(silence)
    assert estimate.bpm is None and estimate.reason == "silent", estimate


def test_click_track_is_found_at_120_bpm(click_track):
    """Measured when written: 119.65 bpm (the tracker's lag grid alone:
    122.3), confidence 0.71."""
    estimate = estimate_tempo(click_track)
    assert estimate.bpm is not None and tempo_error(estimate.bpm, 120.0, tolerance=0.01).within, estimate
    assert estimate.confidence > 0.5, estimate


@pytest.mark.parametrize("estimate, octave, within, within_octave", [
    (120.0, "same", True, True),
    (124.0, "same", True, True),
    (126.0, "same", False, False),
    (241.0, "double", False, True),
    (61.0, "half", False, True),
    (180.0, "double", False, False),  # 1.5x: nearest octave class, but no octave of the target
])
def test_tempo_error_classifies_octaves(estimate, octave, within, within_octave):
    error = tempo_error(estimate, 120.0)
    assert (error.octave, error.within, error.within_octave) == (octave, within, within_octave)
    assert error.relative == pytest.approx(abs(estimate - 120.0) / 120.0)


def test_tempo_error_without_an_estimate():
    assert tempo_error(None, 120.0) == TempoError(None, "none", False, False)


def test_harmonic_change_peaks_where_the_chord_changes():
    """The chord-change curve the beat choice reads: a C major triad for 100
    frames, then F major, then C again; its peaks sit on the two changes."""
    chroma = np.zeros((12, 300))
    for start, notes in ((0, (0, 4, 7)), (100, (5, 9, 0)), (200, (0, 4, 7))):
        chroma[list(notes), start : start + 100] = 1.0
    window = 10
    change = _harmonic_change(chroma, window)  # change[t]: around frame t against around t + window
    peaks = np.sort(np.argsort(change)[-2:]) + window // 2
    assert np.all(np.abs(peaks - np.array([100, 200])) <= 1), peaks
    assert change[:80].max() < 1e-4  # no change within a chord


@pytest.mark.parametrize("bpm", [60, 66, 72, 85, 170, 180])
def test_a_metronome_is_found_at_its_own_tempo_not_a_multiple(bpm):
    """Slow and fast. The tracker alone took 170 bpm as 85; the beat choice
    without the one-beat correlation took 72 as 144, and without the onsets
    per beat 60 and 66 as 119.7 and 132.4. Measured when written: 59.8,
    65.9, 72.1, 85.2, 170.5 and 179.7 bpm."""
    audio = np.zeros(30 * SR, dtype=np.float32)
    click = 0.8 * np.random.default_rng(1).standard_normal(int(0.005 * SR)).astype(np.float32)
    for start in range(0, len(audio) - len(click), round(SR * 60 / bpm)):
        audio[start : start + len(click)] = click
    estimate = estimate_tempo(audio)
    assert estimate.bpm is not None and tempo_error(estimate.bpm, bpm, tolerance=0.01).within, estimate
