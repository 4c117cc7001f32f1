"""Arranging: a SongSpec becomes what the synthesizer plays (timed notes and
drum hits) and what the models learn from (its labels). Deterministic: all
chance lives in the spec, so a seed names the performance too."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

import numpy as np

from hiermusic.corpus.captions import caption
from hiermusic.corpus.labels import ChordLabel, SectionLabel, SongLabels
from hiermusic.corpus.performance import DrumHit, Note, Performance
from hiermusic.corpus.song_spec import BEATS_PER_BAR, GENERATOR, MOTIF_BEATS, SCALES, Chord, MotifNote, SongSpec

CAPTION_STREAM = 1  # the caption's rng is seeded with (song seed, this), apart from the spec's
SWING_DELAY = 1.0 / 6.0  # a swung off-beat eighth lands on the last triplet: 0.5 -> 0.667 beats
ARTICULATION = 0.92  # share of the gap to the next event a pattern note holds
PART_GAINS = {"lead": 1.0, "bass": 0.8, "chords": 0.55, "pad": 0.5, "drums": 0.7}
PART_VELOCITY = {"lead": 0.9, "bass": 0.8, "chords": 0.65, "pad": 0.6}
DRUM_HIT = {"X": 1.0, "x": 0.75, "o": 0.4}
# Crescendo on the snare through the last two beats of a section, into the next.
FILL = {"kick": "x.......", "snare": "xoxoxxXX"}
LEAD_LOWEST_TONIC = 57  # the lead's tonic sits in 57..68, so melodies stay around C4..C6
LEAD_HIGHEST = 86  # an octave-up return only goes up if it stays below this


@dataclass(frozen=True)
class Groove:
    """One bar per groove level 0..2 (sparse to busy). Bass and harmony are in
    eighths; drums in sixteenths per kind."""
    # r root, f fifth, o octave, t third, a chromatic approach to the next chord, . hold
    bass: tuple[str, str, str]
    # x whole chord, 0-3 one chord tone from the bottom, . hold
    harmony: tuple[str, str, str]
    drums: tuple[dict[str, str], dict[str, str], dict[str, str]]  # X accent, x hit, o ghost


GROOVES = {
    "pop": Groove(("r.......", "r...r.f.", "r.r.r.rf"), ("x...x...", "x.x.x.x.", "x.xx.xx."), (
        {"kick": "x.......x.......", "hat": "x...x...x...x..."},
        {"kick": "X.......x.x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.....x.x.x.....", "snare": "....X.......X..o", "hat": "xoxoxoxoxoxoxoxo"})),
    "rock": Groove(("r...r...", "rrrrrrrr", "rrrrrrro"), ("x...x...", "x.x.x.x.", "xxxxxxxx"), (
        {"kick": "x.......x.......", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.....x.X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.x...x.X.x.....", "snare": "....X.......X...", "open_hat": "x.x.x.x.x.x.x.x."})),
    "jazz": Groove(("r...f...", "r.t.f.a.", "r.t.f.a."), ("x.......", "..x...x.", "x..x..x."), (
        {"hat": "x...x.o.x...x.o."},
        {"kick": "o...o...o...o...", "snare": "..........o.....", "hat": "x...x.x.x...x.x."},
        {"kick": "o...o...o...o...", "snare": "......o.....o.o.", "hat": "X...X.x.X...X.x."})),
    "electronic": Groove(("r...r...", ".r.r.r.r", "rrorrror"), ("x.......", "..x...x.", "x.x.x.x."), (
        {"kick": "x...x...x...x..."},
        {"kick": "X...X...X...X...", "snare": "....x.......x...", "open_hat": "..x...x...x...x."},
        {"kick": "X...X...X...X...", "snare": "....X.......X...", "hat": "xo.oxo.oxo.oxo.o",
         "open_hat": "..x...x...x...x."})),
    "ambient": Groove(("r.......", "r...f...", "r...r..."), ("x.......", "x...x...", "0121x121"), (
        {"hat": "x.......x......."},
        {"kick": "x.......x.......", "hat": "..x...x...x...x."},
        {"kick": "x.......x.......", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."})),
    "folk": Groove(("r...f...", "r...f...", "r.f.r.f."), ("x...x...", "01210121", "01213121"), (
        {"kick": "x.......x......."},
        {"kick": "x.......x.......", "snare": "....o.......o...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.......X.x.....", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."})),
    "classical": Groove(("r.......", "r...f...", "r.f.o.f."), ("x...x...", "02120212", "02120212"), (
        {"kick": "x..............."},
        {"kick": "x.......x......."},
        {"kick": "X.......x.......", "snare": "............o.o."})),
}
PAD_PATTERN = "x......."  # a pad holds each chord whatever the style

NoteEvent = tuple[float, float, int, float, str, str]  # start and end in song beats, pitch, velocity, timbre, part
HitEvent = tuple[float, str, float]  # song beat, kind, velocity


def arrange(spec: SongSpec) -> tuple[Performance, SongLabels]:
    chords = _chord_track(spec)
    starts = list(accumulate((s.bars * BEATS_PER_BAR for s in spec.sections), initial=0))
    events: list[NoteEvent] = []
    hits: list[HitEvent] = []
    for i in range(len(spec.sections)):
        _arrange_section(spec, i, starts[i], chords, events, hits)
    if "abrupt_ending" not in spec.rule_breaks:
        _cadence(spec, events, hits)

    beat_s = spec.beat_s
    duration = spec.duration_s
    swing = SWING_DELAY if spec.swing else 0.0
    notes = []
    for start, end, pitch, velocity, timbre, part in events:
        onset = _swung(start, swing) * beat_s
        notes.append(Note(onset, min(_swung(end, swing) * beat_s, duration) - onset, pitch, velocity, timbre, part))
    drums = [DrumHit(_swung(beat, swing) * beat_s, kind, velocity) for beat, kind, velocity in hits]
    harmony_part = _harmony_part(spec)
    gains = {p: PART_GAINS[p] for p in ("lead", "bass", harmony_part, "drums")}
    return Performance(duration, notes, drums, gains), _labels(spec, starts, chords)


def _swung(beat: float, delay: float) -> float:
    return beat + delay if beat % 1.0 == 0.5 else beat


def _harmony_part(spec: SongSpec) -> str:
    return "pad" if spec.instruments.harmony == "pad" else "chords"


def _lead_tonic(spec: SongSpec) -> int:
    return LEAD_LOWEST_TONIC + (spec.tonic_chord.root - LEAD_LOWEST_TONIC) % 12


def _bass_low(timbre: str) -> int:
    """E1 for the bass voice; E2 for a timbre that thins out down there."""
    return 28 if timbre == "bass" else 40


def _chord_track(spec: SongSpec) -> list[Chord]:
    """The chord sounding on every beat of the song; a song that ends properly
    lands on the tonic for its last bar."""
    track = []
    for section in spec.sections:
        material = spec.material[section.type]
        progression, per = material.progression, material.beats_per_chord
        track += [progression[(b // per) % len(progression)] for b in range(section.bars * BEATS_PER_BAR)]
    if "abrupt_ending" not in spec.rule_breaks:
        track[-BEATS_PER_BAR:] = [spec.tonic_chord] * BEATS_PER_BAR
    return track


def _arrange_section(spec: SongSpec, index: int, start: int, chords: list[Chord],
                     events: list[NoteEvent], hits: list[HitEvent]) -> None:
    section = spec.sections[index]
    material = spec.material[section.type]
    last = index == len(spec.sections) - 1
    n_beats = section.bars * BEATS_PER_BAR
    # The cadence bar of a proper ending is played by _cadence instead.
    play_beats = n_beats - (BEATS_PER_BAR if last and "abrupt_ending" not in spec.rule_breaks else 0)
    level = _level(section.energy)
    fade_out = section.type == "outro"

    def velocity(part_velocity: float, beat: float) -> float:
        accent = 1.0 if beat % BEATS_PER_BAR == 0 else 0.9 if beat % 1.0 == 0 else 0.8
        fade = 1.0 - 0.5 * beat / n_beats if fade_out else 1.0
        return min(1.0, part_velocity * level * accent * fade)

    entries = _entries(section.type, section.bars, spec.rule_breaks)
    groove = GROOVES[spec.style]
    instruments = spec.instruments
    for beat, end, pitch in _lead(spec, index, chords[start:start + n_beats], n_beats):
        if entries["lead"] <= beat < play_beats:
            events.append((start + beat, start + min(end, play_beats), pitch, velocity(PART_VELOCITY["lead"], beat),
                           instruments.lead, "lead"))
    harmony_part = _harmony_part(spec)
    patterns = (  # layer, part, pattern, timbre
        ("bass", "bass", groove.bass[material.groove], instruments.bass),
        ("harmony", harmony_part, PAD_PATTERN if harmony_part == "pad" else groove.harmony[material.groove],
         instruments.harmony),
    )
    for layer, part, pattern, timbre in patterns:
        for beat, end, pitch in _pattern_notes(part, pattern, chords, start, play_beats, _bass_low(instruments.bass)):
            if beat >= entries[layer]:
                events.append((start + beat, start + end, pitch, velocity(PART_VELOCITY[part], beat), timbre, part))
    if instruments.drums:
        crash = index > 0 and material.groove > 0
        for beat, kind, hit in _drum_bars(groove.drums[material.groove], section.bars, fill=not last, crash=crash):
            if entries["drums"] <= beat < play_beats:
                hits.append((start + beat, kind, velocity(hit, beat)))


def _level(energy: float) -> float:
    """Velocity scale of a section: quiet sections stay audible."""
    return 0.45 + 0.55 * energy


def _entries(section_type: str, bars: int, rule_breaks: tuple[str, ...]) -> dict[str, float]:
    """Beat at which each layer enters: an intro is thinner, and an extended
    intro builds up one layer at a time."""
    beats = bars * BEATS_PER_BAR
    if section_type != "intro":
        return {"harmony": 0.0, "bass": 0.0, "drums": 0.0, "lead": 0.0}
    if "extended_intro" in rule_breaks:
        quarter = bars // 4 * BEATS_PER_BAR
        return {"harmony": 0.0, "bass": quarter, "drums": 2 * quarter, "lead": 3 * quarter}
    return {"harmony": 0.0, "bass": 0.0, "drums": 0.0, "lead": beats / 2 if bars >= 4 else beats}


def _lead(spec: SongSpec, index: int, chords: list[Chord], n_beats: int) -> list[tuple[float, float, int]]:
    """(start, end, pitch) of the section's melody, relative to its start: the
    type's motif over and over, closing on the chord root, with the return's
    variation and any displacement applied."""
    section = spec.sections[index]
    motif = list(spec.material[section.type].motif)
    base = _lead_tonic(spec)
    reps = -(-n_beats // MOTIF_BEATS)
    phrase = [MotifNote(n.start + r * MOTIF_BEATS, n.length, n.step) for r in range(reps) for n in motif
              if n.start + r * MOTIF_BEATS < n_beats]
    if section.variation == "ornament":
        # An upper neighbour grace note before the first phrase's longest note.
        i = max(range(len(motif)), key=lambda k: motif[k].length)
        note = phrase[i]
        phrase[i:i + 1] = [MotifNote(note.start, 0.25, note.step + 1),
                           MotifNote(note.start + 0.25, note.length - 0.25, note.step)]
    # The section's last note resolves to the root; a "last_note" return lands elsewhere.
    final = phrase[-1]
    landing = (2 if final.step < 3 else 4) if section.variation == "last_note" else (0 if final.step < 4 else 7)
    phrase[-1] = MotifNote(final.start, final.length, landing)
    if section.variation == "fill":
        # A stepwise pickup run through the last two beats, into the next section.
        run_from = n_beats - 2
        phrase = [n for n in phrase if n.start < run_from]
        phrase += [MotifNote(run_from + 0.5 * k, 0.5, k) for k in range(4)]
    shift = section.displacement
    notes = [(n.start + shift, min(n.start + shift + n.length, n_beats),
              _lead_pitch(chords[int(n.start)], n.step, base)) for n in phrase if n.start + shift < n_beats]
    if section.variation == "octave":
        octave = 12 if max(p for _, _, p in notes) + 12 <= LEAD_HIGHEST else -12
        notes = [(start, end, pitch + octave) for start, end, pitch in notes]
    return notes


def _lead_pitch(chord: Chord, step: int, base: int) -> int:
    """Scale step `step` above the chord root, folded into a singable range."""
    index = chord.degree + step
    index = index - 7 if index > 10 else index + 7 if index < -3 else index
    scale = SCALES[chord.scale]
    return base + 12 * (index // 7) + scale[index % 7]


@lru_cache(maxsize=4096)
def _voicing(chord: Chord) -> tuple[int, ...]:
    """Close position around middle C, the inversion nearest E4, so chords
    move by small steps; power chords sit lower, root-fifth-octave."""
    if chord.quality == "5":
        root = 40 + (chord.root - 4) % 12
        return root, root + 7, root + 12
    tones = [48 + (chord.root % 12) + i for i in chord.intervals]
    inversions = [sorted(t + 12 * (k < inv) for k, t in enumerate(tones)) for inv in range(len(tones))]
    return tuple(min(inversions, key=lambda v: abs(sum(v) / len(v) - 64)))


def _pattern_notes(part: str, pattern: str, chords: list[Chord], start: int, n_beats: int,
                   bass_low: int) -> list[tuple[float, float, int]]:
    """(start, end, pitch) of a bass or harmony part, relative to the section.
    A held slot is re-struck when the chord changes under it."""
    strikes: list[tuple[int, str, Chord]] = []
    for slot in range(2 * n_beats):
        chord = chords[start + slot // 2]
        token = pattern[slot % len(pattern)]
        if token == "." and slot % 2 == 0 and strikes and strikes[-1][2] != chord:
            token = "r" if part == "bass" else "x"
        if token != ".":
            strikes.append((slot, token, chord))
    notes = []
    for k, (slot, token, chord) in enumerate(strikes):
        next_slot = strikes[k + 1][0] if k + 1 < len(strikes) else 2 * n_beats
        begin, end = slot / 2, slot / 2 + ARTICULATION * (next_slot - slot) / 2
        if part == "bass":
            following = chords[min(start + slot // 2 + 1, len(chords) - 1)]
            notes.append((begin, end, _bass_pitch(token, chord, following, bass_low)))
        else:
            voicing = _voicing(chord)
            pitches = voicing if token == "x" else (voicing[int(token) % len(voicing)],)
            notes += [(begin, end, p) for p in pitches]
    return notes


def _bass_pitch(token: str, chord: Chord, following: Chord, low: int) -> int:
    root = low + (chord.root - low) % 12
    if token == "a":
        target = low + (following.root - low) % 12
        return target - 1 if target != root else root + 7
    third = chord.intervals[1] if len(chord.intervals) > 2 else 7
    return root + {"r": 0, "f": 7, "o": 12, "t": third}[token]


def _drum_bars(pattern: dict[str, str], bars: int, fill: bool, crash: bool) -> list[HitEvent]:
    """(beat, kind, velocity) of a section's drums relative to its start, with
    a fill into the next section and a crash (open hat) on its first downbeat."""
    # Kinds in a fixed order (never a set): hit order reaches the mix's summation order.
    last_bar = {kind: pattern.get(kind, "." * 16)[:8] + FILL.get(kind, "." * 8)
                for kind in dict.fromkeys([*pattern, *FILL])}
    hits = [(0.0, "open_hat", 1.0)] if crash else []
    for bar in range(bars):
        for kind, steps in (last_bar if fill and bar == bars - 1 else pattern).items():
            hits += [(bar * BEATS_PER_BAR + step / 4, kind, DRUM_HIT[char]) for step, char in enumerate(steps)
                     if char != "."]
    return hits


def _cadence(spec: SongSpec, events: list[NoteEvent], hits: list[HitEvent]) -> None:
    """The final bar: every part holds the tonic, one last hit on the kit."""
    beats = spec.bars * BEATS_PER_BAR
    begin = beats - BEATS_PER_BAR
    level = _level(spec.sections[-1].energy)
    tonic = spec.tonic_chord
    instruments = spec.instruments
    bass = _bass_pitch("r", tonic, tonic, _bass_low(instruments.bass))
    parts = [(_lead_tonic(spec), instruments.lead, "lead"), (bass, instruments.bass, "bass")]
    parts += [(p, instruments.harmony, _harmony_part(spec)) for p in _voicing(tonic)]
    for pitch, timbre, part in parts:
        events.append((begin, beats, pitch, PART_VELOCITY[part] * level, timbre, part))
    if instruments.drums:
        hits += [(begin, "kick", level), (begin, "open_hat", level)]


def _labels(spec: SongSpec, starts: list[int], chords: list[Chord]) -> SongLabels:
    beat_s = spec.beat_s
    first_of: dict[str, int] = {}
    sections = []
    for i, section in enumerate(spec.sections):
        repeat_of = first_of.setdefault(section.type, i)
        sections.append(SectionLabel(section.type, starts[i] * beat_s, starts[i + 1] * beat_s, section.bars,
                                     section.energy, repeat_of if repeat_of != i else -1))
    beats = [b * beat_s for b in range(len(chords))]
    instruments = list(dict.fromkeys((spec.instruments.lead, spec.instruments.harmony, spec.instruments.bass)))
    return SongLabels(
        song_id=f"song-{spec.seed:07d}",
        source="synthetic",
        caption=caption(spec, np.random.default_rng([spec.seed, CAPTION_STREAM])),
        duration_s=spec.duration_s,
        sections=sections,
        tempo_bpm=float(spec.tempo_bpm),
        key=spec.key,
        mode=spec.mode,
        beats=beats,
        downbeats=beats[::BEATS_PER_BAR],
        chords=[ChordLabel(t, c.name) for t, c in zip(beats, chords, strict=True)],
        instruments=instruments,
        drums=spec.instruments.drums,
        style=spec.style,
        mood=spec.mood,
        rule_breaks=list(spec.rule_breaks),
        meta={"seed": str(spec.seed), "generator": GENERATOR, **({"style_free": "1"} if spec.style_free else {})},
    )
