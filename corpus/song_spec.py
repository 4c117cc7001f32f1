"""A song as a composer sketches it before arranging: style, mood, tempo, key,
instrumentation, and a form whose section types each own a chord progression
and a melodic motif. Everything is drawn from one seed through numpy's PCG64,
so a seed names the same song on every machine."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from hiermusic.services.common.music import KEYS, MODES

T = TypeVar("T")

STYLES = ("pop", "rock", "jazz", "electronic", "ambient", "folk", "classical")
MOODS = ("happy", "sad", "energetic", "calm", "tense", "dreamy")
RULE_BREAKS = ("extended_intro", "abrupt_ending", "modal_interchange", "rhythmic_displacement")
RULE_BREAK_ODDS = 0.15  # each, independently: rare enough to stay a departure from the norm
# What a returning section may change (a "fill" is a melodic pickup into the next section).
VARIATIONS = ("ornament", "last_note", "octave", "fill")
VARIATION_ODDS = 0.75  # a return is usually, not always, a little different
# Bumped whenever a seed would produce a different song: labels carry it so audio
# can be re-rendered from (seed, generator) alone.
GENERATOR = "hiermusic-songs/1"

BEATS_PER_BAR = 4
MOTIF_BEATS = 8  # motifs are two-bar phrases
DURATION_RANGE_S = (90.0, 240.0)

# Semitones of each mode's scale above the tonic.
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
# Chord qualities in Harte shorthand (the names chord labels use) and their intervals.
QUALITIES = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "hdim7": (0, 3, 6, 10),
    "5": (0, 7),
}
_STACKED = {intervals: name for name, intervals in QUALITIES.items()}


@dataclass(frozen=True)
class StyleProfile:
    tempo: tuple[int, int]  # bpm range before the mood pushes it
    lead: tuple[str, ...]  # timbres each role may take
    bass: tuple[str, ...]
    harmony: tuple[str, ...]
    drums: float  # odds of a drum kit
    sevenths: float  # odds that a progression is voiced in sevenths
    dominant7: float  # odds that a major V becomes V7
    power: float  # odds that a song plays power chords (root and fifth)
    swing: float  # odds of swung eighths
    two_chords_per_bar: float  # odds of a faster harmonic rhythm
    notes_per_two_beats: float  # melodic density the motif rhythm aims at
    pre_chorus: float  # odds that verses lead into the chorus through a pre-chorus
    middle: tuple[float, ...]  # odds of each of MIDDLES


# What comes between the second chorus and the last one.
MIDDLES = ((), ("bridge",), ("solo",), ("bridge", "solo"), ("solo", "bridge"))

STYLE_PROFILES = {
    "pop": StyleProfile((88, 128), ("keys", "plucked", "bell"), ("bass",), ("keys", "pad", "plucked"),
                        0.95, 0.1, 0.3, 0.0, 0.1, 0.1, 2.2, 0.6, (0.15, 0.55, 0.1, 0.1, 0.1)),
    "rock": StyleProfile((100, 160), ("organ", "plucked"), ("bass",), ("plucked", "organ"),
                         1.0, 0.0, 0.2, 0.7, 0.05, 0.1, 2.0, 0.4, (0.1, 0.3, 0.4, 0.1, 0.1)),
    "jazz": StyleProfile((80, 176), ("keys", "organ", "bell"), ("bass",), ("keys", "organ"),
                         0.85, 1.0, 1.0, 0.0, 1.0, 0.5, 2.8, 0.1, (0.05, 0.15, 0.6, 0.1, 0.1)),
    "electronic": StyleProfile((118, 140), ("bell", "plucked", "organ"), ("bass",), ("pad", "keys"),
                               1.0, 0.3, 0.1, 0.0, 0.0, 0.0, 2.6, 0.6, (0.2, 0.5, 0.2, 0.05, 0.05)),
    "ambient": StyleProfile((60, 92), ("bell", "keys", "plucked"), ("bass", "pad"), ("pad", "organ"),
                            0.2, 0.6, 0.0, 0.0, 0.0, 0.0, 1.2, 0.1, (0.4, 0.5, 0.05, 0.05, 0.0)),
    "folk": StyleProfile((80, 132), ("plucked", "keys"), ("bass", "plucked"), ("plucked", "keys"),
                         0.5, 0.0, 0.2, 0.0, 0.2, 0.0, 2.0, 0.3, (0.3, 0.5, 0.1, 0.1, 0.0)),
    "classical": StyleProfile((60, 140), ("keys", "organ", "bell"), ("keys", "organ", "bass"), ("keys", "organ", "pad"),
                              0.05, 0.0, 0.6, 0.0, 0.0, 0.4, 2.5, 0.3, (0.2, 0.6, 0.1, 0.1, 0.0)),
}

MOOD_TEMPO_SHIFT = {"happy": 6, "sad": -10, "energetic": 14, "calm": -10, "tense": 4, "dreamy": -8}
# Odds of each of MODES (major, minor, dorian, mixolydian) per mood.
MOOD_MODE_ODDS = {
    "happy": (0.7, 0.03, 0.07, 0.2),
    "sad": (0.05, 0.65, 0.25, 0.05),
    "energetic": (0.4, 0.3, 0.1, 0.2),
    "calm": (0.5, 0.15, 0.2, 0.15),
    "tense": (0.05, 0.7, 0.2, 0.05),
    "dreamy": (0.35, 0.15, 0.3, 0.2),
}
MOOD_ENERGY = {"happy": 0.05, "sad": -0.08, "energetic": 0.12, "calm": -0.12, "tense": 0.05, "dreamy": -0.1}
STYLE_ENERGY = {"pop": 0.0, "rock": 0.08, "jazz": -0.03, "electronic": 0.05, "ambient": -0.15,
                "folk": -0.05, "classical": -0.05}
TYPE_ENERGY = {"intro": 0.3, "verse": 0.5, "pre-chorus": 0.62, "chorus": 0.8, "bridge": 0.55,
               "solo": 0.72, "outro": 0.3}

# Section lengths in bars (choices, odds); all within the planner's BAR_CHOICES.
SECTION_BARS = {
    "intro": ((2, 4, 8), (0.15, 0.6, 0.25)),
    "verse": ((8, 16), (0.6, 0.4)),
    "pre-chorus": ((4, 8), (0.6, 0.4)),
    "chorus": ((8, 16), (0.65, 0.35)),
    "bridge": ((4, 8), (0.3, 0.7)),
    "solo": ((8, 16), (0.6, 0.4)),
    "outro": ((4, 8), (0.6, 0.4)),
}
EXTENDED_INTRO_BARS = (12, 16)

# Progressions as scale degrees (1 = tonic) per section type; realised in the
# song's mode, so "4" is IV in major and dorian, iv in minor.
PROGRESSIONS = {
    "intro": ((1, 4, 1, 4), (1, 1, 4, 4), (6, 4, 1, 5), (1, 5, 4, 1)),
    "verse": ((1, 6, 4, 5), (1, 4, 6, 5), (1, 5, 6, 4), (1, 4, 1, 5), (2, 5, 1, 1), (1, 6, 2, 5), (1, 3, 4, 4)),
    "pre-chorus": ((2, 4, 5, 5), (4, 5, 4, 5), (6, 5, 4, 5), (2, 3, 4, 5), (4, 4, 5, 5)),
    "chorus": ((4, 1, 5, 6), (1, 5, 6, 4), (6, 4, 1, 5), (1, 4, 5, 4), (4, 5, 3, 6), (1, 4, 6, 5)),
    "bridge": ((6, 3, 4, 1), (4, 6, 4, 5), (2, 6, 3, 4), (6, 5, 4, 3), (3, 6, 2, 5)),
    "solo": ((1, 4, 1, 5), (2, 5, 1, 6), (1, 6, 4, 5), (4, 4, 1, 1), (6, 2, 5, 1)),
    "outro": ((4, 5, 1, 1), (4, 1, 4, 1), (6, 4, 5, 1), (2, 5, 1, 1)),
}
# Progressions that show a mode's own colour (bVII in mixolydian, IV in dorian).
MODE_PROGRESSIONS = {
    "major": (),
    "minor": ((1, 7, 6, 7), (1, 6, 3, 7)),
    "dorian": ((1, 4, 1, 4), (1, 2, 1, 4)),
    "mixolydian": ((1, 7, 4, 1), (1, 7, 1, 4)),
}
# Modal interchange borrows from the parallel mode: these scale degrees (0-based)
# of the other scale give the classic borrowed chords (iv, bVI, bVII, bIII / I, IV, V).
BORROW_FROM = {"major": "minor", "mixolydian": "minor", "minor": "major", "dorian": "major"}
BORROW_DEGREES = {"minor": (3, 5, 6, 2), "major": (0, 3, 4)}

# Two-beat rhythm cells (start, length) a motif is built from.
CELLS = (
    ((0.0, 2.0),),
    ((0.0, 1.0), (1.0, 1.0)),
    ((0.0, 1.5), (1.5, 0.5)),
    ((0.0, 0.5), (0.5, 0.5), (1.0, 1.0)),
    ((0.0, 1.0), (1.0, 0.5), (1.5, 0.5)),
    ((0.0, 0.5), (0.5, 0.5), (1.0, 0.5), (1.5, 0.5)),
    ((0.5, 1.0), (1.5, 0.5)),
    ((0.0, 1.0),),
    ((0.0, 0.75), (0.75, 0.25), (1.0, 1.0)),
)
# A phrase ends on a held note so it breathes before the next one.
ENDING_CELLS = (((0.0, 2.0),), ((0.0, 1.0),), ((0.0, 1.5),))
CHORD_STEPS = (-3, 0, 2, 4, 7, 9)  # scale steps above a chord root that are chord tones
# Where each section type's melody sits, in scale steps: choruses sing higher.
REGISTER = {"intro": 2, "verse": 2, "pre-chorus": 3, "chorus": 5, "bridge": 3, "solo": 5, "outro": 1}
# Motif density shifts (notes per two beats) by mood and by section type.
MOOD_DENSITY = {"energetic": 0.5, "calm": -0.4, "dreamy": -0.4}
TYPE_DENSITY = {"solo": 1.0, "intro": -0.6, "outro": -0.6}


@dataclass(frozen=True)
class Chord:
    numeral: str  # in the song's key, e.g. "ii7", "bVII", "V5"
    root: int  # pitch class 0..11
    quality: str  # a QUALITIES key
    degree: int  # 0..6 within `scale`; melody steps count from it
    scale: str  # the mode this chord is drawn from; not the song's on a borrowed chord

    @property
    def name(self) -> str:
        return f"{KEYS[self.root]}:{self.quality}"

    @property
    def intervals(self) -> tuple[int, ...]:
        return QUALITIES[self.quality]


@dataclass(frozen=True)
class MotifNote:
    start: float  # beats from the motif's start
    length: float  # beats
    step: int  # scale steps above the sounding chord's root: 0 root, 2 third, 4 fifth


@dataclass(frozen=True)
class SectionMaterial:
    """What a section type owns and brings back every time it returns."""
    progression: tuple[Chord, ...]
    beats_per_chord: int
    motif: tuple[MotifNote, ...]  # spans MOTIF_BEATS
    groove: int  # accompaniment density 0..2, fixed per type so returns sound alike


@dataclass(frozen=True)
class SectionSpec:
    type: str
    bars: int
    energy: float  # 0..1
    occurrence: int  # 0 the first time this type plays
    variation: str | None = None  # one of VARIATIONS, only on a return
    displacement: float = 0.0  # beats the melody is pushed late (rhythmic displacement)


@dataclass(frozen=True)
class Instrumentation:
    lead: str  # timbres from corpus.performance.TIMBRES
    bass: str
    harmony: str  # chords, or a pad when the timbre is "pad"
    drums: bool


@dataclass(frozen=True)
class SongSpec:
    seed: int
    style: str
    mood: str
    tempo_bpm: int
    key: str  # one of KEYS
    mode: str  # one of MODES
    instruments: Instrumentation
    swing: bool
    sections: tuple[SectionSpec, ...]
    material: dict[str, SectionMaterial]  # by section type
    tonic_chord: Chord  # what a cadence lands on
    rule_breaks: tuple[str, ...]
    style_free: bool = False  # tempo and drums drawn regardless of style (style_free)

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bars(self) -> int:
        return sum(s.bars for s in self.sections)

    @property
    def duration_s(self) -> float:
        return self.bars * BEATS_PER_BAR * self.beat_s


def compose_spec(seed: int) -> SongSpec:
    rng = np.random.default_rng(seed)
    style = STYLES[rng.integers(len(STYLES))]
    mood = MOODS[rng.integers(len(MOODS))]
    profile = STYLE_PROFILES[style]
    lo, hi = profile.tempo
    tempo = int(np.clip(round(rng.uniform(lo, hi) + MOOD_TEMPO_SHIFT[mood]), 60, 180))
    key = KEYS[rng.integers(len(KEYS))]
    mode = MODES[rng.choice(len(MODES), p=MOOD_MODE_ODDS[mood])]
    instruments = Instrumentation(
        lead=_pick(rng, profile.lead), bass=_pick(rng, profile.bass), harmony=_pick(rng, profile.harmony),
        drums=bool(rng.random() < profile.drums),
    )
    swing = bool(rng.random() < profile.swing)
    breaks = {name for name in RULE_BREAKS if rng.random() < RULE_BREAK_ODDS}

    form = _form(rng, profile, tempo, "extended_intro" in breaks, "abrupt_ending" in breaks)
    energy = _type_energy(rng, style, mood)
    tonic = KEYS.index(key)
    flavour = _Flavour(
        sevenths=bool(rng.random() < profile.sevenths),
        dominant7=bool(rng.random() < profile.dominant7),
        power=bool(rng.random() < profile.power),
    )
    types = list(dict.fromkeys(t for t, _ in form))
    material: dict[str, SectionMaterial] = {}
    for t in types:
        used = {tuple(c.degree for c in m.progression) for m in material.values()}
        material[t] = _material(rng, t, profile, mood, mode, tonic, flavour, energy[t], used)
    if "modal_interchange" in breaks:
        borrowed = _borrow_chord(rng, material, mode, tonic, flavour)
        if borrowed is None:
            breaks.discard("modal_interchange")
        else:
            material = borrowed
    sections = _sections(rng, form, energy, "rhythmic_displacement" in breaks)
    return SongSpec(
        seed=seed, style=style, mood=mood, tempo_bpm=tempo, key=key, mode=mode, instruments=instruments,
        swing=swing, sections=sections, material=material,
        tonic_chord=_chord(0, mode, tonic, flavour),
        rule_breaks=tuple(name for name in RULE_BREAKS if name in breaks),
    )


STYLE_FREE_STREAM = 777  # offset of the seed the style-free tempo and drums are drawn from
STYLE_FREE_TEMPO = (60, 180)


def style_free(spec: SongSpec) -> SongSpec:
    """The same song at a tempo drawn from the whole STYLE_FREE_TEMPO range and
    with drums or none by a coin flip, whatever its style. Composed songs take
    both from their style, so a corpus of them alone never has a slow pop song
    or a rock song without drums, and models trained on it cannot make one
    when a prompt asks."""
    rng = np.random.default_rng(spec.seed + STYLE_FREE_STREAM)
    tempo = int(rng.integers(STYLE_FREE_TEMPO[0], STYLE_FREE_TEMPO[1] + 1))
    drums = bool(rng.random() < 0.5)
    return replace(spec, tempo_bpm=tempo, instruments=replace(spec.instruments, drums=drums), style_free=True)


def _pick(rng: np.random.Generator, options: tuple[T, ...]) -> T:
    return options[rng.integers(len(options))]


# ---- form -------------------------------------------------------------------------

def _form(rng: np.random.Generator, profile: StyleProfile, tempo: int, extended_intro: bool,
          abrupt_ending: bool) -> list[tuple[str, int]]:
    """(type, bars) in order: a verse-chorus grammar whose section lengths and
    repeats are then adjusted until the song lasts about a target time."""
    bars = {t: int(rng.choice(c, p=p)) for t, (c, p) in SECTION_BARS.items()}
    if extended_intro:
        bars["intro"] = _pick(rng, EXTENDED_INTRO_BARS)
    block = ["verse", "pre-chorus", "chorus"] if rng.random() < profile.pre_chorus else ["verse", "chorus"]
    middle = list(MIDDLES[rng.choice(len(MIDDLES), p=profile.middle)])
    ending = ["chorus"] * (2 if rng.random() < 0.3 else 1)
    intro = ["intro"] if extended_intro or rng.random() < 0.85 else []
    outro = ["outro"] if rng.random() < 0.75 and not abrupt_ending else []
    n_blocks = 2
    bar_s = BEATS_PER_BAR * 60.0 / tempo
    low, high = DURATION_RANGE_S
    target_s = rng.uniform(low + 10.0, high - 30.0)

    def layout() -> list[str]:
        return intro + block * n_blocks + middle + ending + outro

    def seconds() -> float:
        return sum(bars[t] for t in layout()) * bar_s

    while seconds() > min(target_s * 1.15, high):
        halvable = [t for t in bars if bars[t] > 4 and not (t == "intro" and extended_intro)]
        if len(ending) > 1:
            ending = ["chorus"]
        elif halvable:
            bars[max(halvable, key=lambda t: bars[t])] //= 2
        elif middle:
            middle.pop()
        else:
            break

    def fits(extra: list[str]) -> bool:
        return seconds() + sum(bars[t] for t in extra) * bar_s <= high

    while seconds() < max(target_s * 0.85, low):
        short = [t for t in ("verse", "chorus", "bridge", "solo")
                 if bars[t] < 8 and fits([x for x in layout() if x == t])]
        extra = "solo" if "solo" not in middle else "bridge"
        if short:
            bars[short[0]] *= 2
        elif n_blocks < 3 and fits(block):
            n_blocks += 1
        elif len(middle) < 2 and fits([extra]):
            middle.append(extra)
        elif len(ending) < 2 and fits(["chorus"]):
            ending = ["chorus", "chorus"]
        else:
            break
    form = [(t, bars[t]) for t in layout()]
    # An abrupt ending stops the last section halfway, if the song stays long enough.
    last, last_bars = form[-1]
    if abrupt_ending and seconds() - last_bars // 2 * bar_s >= low:
        form[-1] = (last, last_bars - last_bars // 2)
    return form


def _sections(rng: np.random.Generator, form: list[tuple[str, int]], energy: dict[str, float],
              displace: bool) -> tuple[SectionSpec, ...]:
    n_chorus = sum(1 for t, _ in form if t == "chorus")
    movable = tuple(i for i, (t, _) in enumerate(form) if t in ("verse", "pre-chorus", "chorus", "bridge", "solo"))
    displaced = _pick(rng, movable) if displace else -1
    seen: dict[str, int] = {}
    sections = []
    for i, (section_type, bars) in enumerate(form):
        occurrence = seen.get(section_type, 0)
        seen[section_type] = occurrence + 1
        # The last of several choruses lifts a little above the others.
        final_chorus = section_type == "chorus" and occurrence == n_chorus - 1 > 0
        level = energy[section_type] + (0.05 if final_chorus else 0.0)
        variation = _pick(rng, VARIATIONS) if occurrence > 0 and rng.random() < VARIATION_ODDS else None
        sections.append(SectionSpec(
            type=section_type, bars=bars, energy=round(min(level, 1.0), 2), occurrence=occurrence,
            variation=variation, displacement=_pick(rng, (0.5, 1.0)) if i == displaced else 0.0,
        ))
    return tuple(sections)


def _type_energy(rng: np.random.Generator, style: str, mood: str) -> dict[str, float]:
    shift = MOOD_ENERGY[mood] + STYLE_ENERGY[style]
    energy = {t: float(np.clip(e + shift + rng.uniform(-0.05, 0.05), 0.1, 0.85)) for t, e in TYPE_ENERGY.items()}
    # The lift from verse to chorus is what makes a chorus.
    energy["chorus"] = max(energy["chorus"], energy["verse"] + 0.1)
    return energy


# ---- harmony and melody -------------------------------------------------------------

@dataclass(frozen=True)
class _Flavour:
    sevenths: bool
    dominant7: bool
    power: bool


def _material(rng: np.random.Generator, section_type: str, profile: StyleProfile, mood: str, mode: str,
              tonic: int, flavour: _Flavour, energy: float, used: set[tuple[int, ...]]) -> SectionMaterial:
    pool = PROGRESSIONS[section_type]
    if section_type in ("verse", "chorus", "solo"):
        pool = pool + MODE_PROGRESSIONS[mode]
    # A type's harmony is its own: skip progressions another type of this song already has.
    pool = tuple(p for p in pool if tuple(d - 1 for d in p) not in used) or pool
    degrees = _pick(rng, pool)
    progression = tuple(_chord(d - 1, mode, tonic, flavour) for d in degrees)
    beats_per_chord = 2 if rng.random() < profile.two_chords_per_bar else BEATS_PER_BAR
    density = profile.notes_per_two_beats + MOOD_DENSITY.get(mood, 0.0) + TYPE_DENSITY.get(section_type, 0.0)
    motif = _motif(rng, density, REGISTER[section_type])
    groove = 0 if section_type in ("intro", "outro") or energy < 0.4 else 1 if energy < 0.68 else 2
    return SectionMaterial(progression, beats_per_chord, motif, groove)


def _chord(degree: int, scale: str, tonic: int, flavour: _Flavour) -> Chord:
    notes = SCALES[scale]
    stack = tuple((notes[(degree + k) % 7] - notes[degree]) % 12 for k in (0, 2, 4, 6))
    quality = _STACKED[stack if flavour.sevenths else stack[:3]]
    if quality == "maj" and degree == 4 and flavour.dominant7:
        quality = "7"
    if flavour.power and quality in ("maj", "min"):
        quality = "5"
    return Chord(_numeral(degree, scale, quality), (tonic + notes[degree]) % 12, quality, degree, scale)


def _numeral(degree: int, scale: str, quality: str) -> str:
    base = ("I", "II", "III", "IV", "V", "VI", "VII")[degree]
    flat = "b" if SCALES[scale][degree] < SCALES["major"][degree] else ""
    minor = quality in ("min", "dim", "min7", "hdim7")
    suffix = {"maj": "", "min": "", "dim": "o", "min7": "7", "hdim7": "h7"}.get(quality, quality)
    return flat + (base.lower() if minor else base) + suffix


def _borrow_chord(rng: np.random.Generator, material: dict[str, SectionMaterial], mode: str, tonic: int,
                  flavour: _Flavour) -> dict[str, SectionMaterial] | None:
    """One chord of one section type swapped for its twin from the parallel
    mode; None when every candidate sounds the same as the native chord
    (power chords hide the third that would differ)."""
    other = BORROW_FROM[mode]
    targets = [t for t in ("chorus", "bridge", "outro", "verse") if t in material][:2]
    section_type = _pick(rng, tuple(targets))
    old = material[section_type]
    position = 1 + int(rng.integers(len(old.progression) - 1))
    for degree in rng.permutation(BORROW_DEGREES[other]):
        borrowed = _chord(int(degree), other, tonic, flavour)
        native = _chord(int(degree), mode, tonic, flavour)
        if (borrowed.root, borrowed.quality) != (native.root, native.quality):
            progression = old.progression[:position] + (borrowed,) + old.progression[position + 1:]
            return {**material, section_type: replace(old, progression=progression)}
    return None


def _motif(rng: np.random.Generator, density: float, register: int) -> tuple[MotifNote, ...]:
    """A two-bar phrase: rhythm cells chosen near the wanted density, strong
    beats on chord tones pulled toward the section's register, weak beats
    moving by step."""
    sizes = np.array([len(c) for c in CELLS], dtype=float)
    odds = np.exp(-1.5 * np.abs(sizes - density))
    odds /= odds.sum()
    n_cells = MOTIF_BEATS // 2
    step = register
    notes = []
    for c in range(n_cells):
        cell = CELLS[rng.choice(len(CELLS), p=odds)] if c < n_cells - 1 else _pick(rng, ENDING_CELLS)
        for start, length in cell:
            beat = 2 * c + start
            if beat % 2 == 0:
                wanted = (step + register) / 2 + int(rng.choice((-2, 0, 2)))
                step = min(CHORD_STEPS, key=lambda s: abs(s - wanted))
            else:
                step = int(np.clip(step + rng.choice((-2, -1, 1, 2), p=(0.15, 0.35, 0.35, 0.15)), -3, 9))
            notes.append(MotifNote(beat, length, step))
    return tuple(notes)
