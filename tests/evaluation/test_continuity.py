"""Clicks and joins: seams planted in corpus songs are found, clean songs and
crossfaded joins show none."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from hiermusic.evaluation.continuity import find_clicks, join_continuity

SR = 24000
CHUNK_S, OVERLAP_S = 5, 1  # the scheduler's default chunks (ARCHITECTURE.md §2)


def _plant(rng: np.random.Generator, songs: list, kind: str) -> tuple[np.ndarray, float]:
    """One seam at a random time: a hard splice into another song (where the
    waveforms differ by >= 0.1 across the cut, as a cut between unrelated
    audio at -18 dBFS usually does), a one-sample spike of 0.1..0.3, or a DC
    step of 0.1..0.2."""
    i = int(rng.integers(len(songs)))
    audio = songs[i][1].copy()
    t = int(rng.uniform(2.0, len(audio) / SR - 2.0) * SR)
    if kind == "splice":
        other = songs[(i + 1) % len(songs)][1]
        t2 = int(rng.integers(SR, len(other) - SR))
        while abs(audio[t - 1] - other[t2]) < 0.1:
            t2 = int(rng.integers(SR, len(other) - SR))
        audio = np.concatenate([audio[:t], other[t2:]])
    elif kind == "spike":
        audio[t] += rng.choice([-1, 1]) * rng.uniform(0.1, 0.3)
    else:
        audio[t:] += rng.choice([-1, 1]) * rng.uniform(0.1, 0.2)
    return audio, t / SR


def _found(songs: list, seed: int, n: int = 20) -> tuple[int, int]:
    """(seams found within 10 ms, detections elsewhere) over n planted seams."""
    rng = np.random.default_rng(seed)
    found = extra = 0
    for k in range(n):
        audio, t = _plant(rng, songs, ("splice", "spike", "step")[k % 3])
        clicks = np.array(find_clicks(audio, SR))
        found += bool(len(clicks)) and np.abs(clicks - t).min() <= 0.01
        extra += int((np.abs(clicks - t) > 0.01).sum())
    return found, extra


def test_no_clicks_in_clean_corpus_songs(corpus_songs):
    """Measured when written: 0 clicks in these 24 clean songs (seeds
    1000..1023), drum hits and bright plucked onsets included; the largest
    click ratio anywhere in them is 2.59 against a threshold of 3.4."""
    found = {labels.song_id: find_clicks(audio, SR) for labels, audio in corpus_songs}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_planted_seams_are_found_in_songs_without_drums(corpus_songs):
    """Measured when written: 17 of these 20 seams planted in the 11 drumless
    songs here, each within 10 ms and with no other detection; the three
    misses are seams whose click ratio is 1.3 to 2.7 (a splice between
    waveforms that happen to line up in slope)."""
    songs = [(labels, audio) for labels, audio in corpus_songs if not labels.drums]
    found, extra = _found(songs, seed=0)
    assert found >= 16, found
    assert extra == 0, extra


def test_seams_inside_drum_hits_can_hide(corpus_songs):
    """A seam under a hi-hat's noise does not stand out from the samples
    around it (nor, mostly, to the ear). Measured when written: 68% of 90
    seams planted in the 26 drum songs of 60 found, the misses sitting
    where the > 6 kHz level is 10-60 times that at the seams found; 9 of
    these 20 (ratios of the misses 1.1 to 3.4). Still no false detection."""
    songs = [(labels, audio) for labels, audio in corpus_songs if labels.drums]
    found, extra = _found(songs, seed=0)
    assert found >= 8, found
    assert extra == 0, extra


def test_noise_silence_and_a_metronome_have_no_seams(white_noise, silence, click_track):
    """A metronome's 5 ms noise bursts are percussion, not seams: each
    burst's edges are no sharper than the noise inside it, the same reason
    a drum hit is not a click. Measured when written: [] for all three."""
    assert find_clicks(silence, SR) == []
    assert find_clicks(white_noise, SR) == []
    assert find_clicks(click_track, SR) == []


def _chunks(audio: np.ndarray) -> list[np.ndarray]:
    hop = (CHUNK_S - OVERLAP_S) * SR
    return [audio[s : s + CHUNK_S * SR] for s in range(0, len(audio) - OVERLAP_S * SR, hop)]


def _crossfade(chunks: list[np.ndarray]) -> np.ndarray:
    overlap = OVERLAP_S * SR
    out = chunks[0].astype(np.float64)
    for chunk in chunks[1:]:
        n = min(overlap, len(chunk))
        ramp = np.linspace(0.0, 1.0, n)
        out[-n:] = out[-n:] * (1.0 - ramp) + chunk[:n] * ramp
        out = np.concatenate([out, chunk[n:]])
    return out.astype(np.float32)


def _hard_cuts(chunks: list[np.ndarray], others: list[np.ndarray]) -> np.ndarray:
    """Every other chunk from another song, cut in the middle of each overlap."""
    half = OVERLAP_S * SR // 2
    parts = [chunks[0][:-half]]
    for k in range(1, len(chunks)):
        chunk = (others if k % 2 else chunks)[k]
        parts.append(chunk[half : len(chunk) - half if k < len(chunks) - 1 else len(chunk)])
    return np.concatenate(parts)


def test_crossfaded_joins_are_like_the_rest_and_hard_cuts_are_not(corpus_songs):
    """Measured when written, 24 songs cut into 5 s chunks with 1 s overlap:
    rejoined by linear crossfade (the song itself again) join/elsewhere flux
    ratio 0.90..1.07, no clicks; with every other chunk taken from the next
    song and hard cuts, ratio 1.11..1.39 (higher than the crossfade's in
    24 of 24), clicks at 3..23 of 25..42 joins and none elsewhere."""
    for (labels, audio), (_, other) in zip(corpus_songs[:3], corpus_songs[1:4]):
        n = min(len(audio), len(other))
        chunks, other_chunks = _chunks(audio[:n]), _chunks(other[:n])
        step = CHUNK_S - OVERLAP_S
        joins = [(step * k + step, step * k + CHUNK_S) for k in range(len(chunks) - 1)]
        boundaries = [s.start_s for s in labels.sections[1:]]
        smooth = join_continuity(_crossfade(chunks), joins, SR, exclude=boundaries)
        cut = join_continuity(_hard_cuts(chunks, other_chunks), joins, SR, exclude=boundaries)
        assert 0.85 <= smooth.ratio <= 1.15, asdict(smooth)
        assert smooth.clicks_at_joins == smooth.clicks_elsewhere == 0, asdict(smooth)
        assert cut.ratio >= 1.08 and cut.ratio >= smooth.ratio + 0.05, (asdict(smooth), asdict(cut))
        assert cut.clicks_at_joins >= 3 and cut.clicks_elsewhere == 0, asdict(cut)


def test_join_continuity_without_joins_or_sound(corpus_songs, silence):
    _, audio = corpus_songs[0]
    empty = join_continuity(audio, [], SR)
    assert empty.at_joins is None and empty.ratio is None and empty.clicks_at_joins == 0
    quiet = join_continuity(silence, [(4.0, 5.0)], SR)
    assert quiet.ratio is None and quiet.clicks_at_joins == quiet.clicks_elsewhere == 0
