"""Real music for the corpus: the scores music21 ships (Bach chorales, Essen,
O'Neill, Ryan and Aird folk tunes, string quartet movements, Palestrina and
Monteverdi), rendered as Performances with an instrumentation and tempo drawn
per piece and labelled from their metadata and phrase or repeat structure.

Times are kept in quarter lengths (music21's unit) until the very end, where
one constant tempo turns them into seconds."""
from __future__ import annotations

import random
import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from music21 import abcFormat, common, converter, corpus, meter, stream, tempo

from hiermusic.corpus import score_labels as sl
from hiermusic.corpus import score_timeline as st
from hiermusic.corpus.labels import ChordLabel, SongLabels
from hiermusic.corpus.performance import DrumHit, Note, Performance
from hiermusic.corpus.score_timeline import Event
from hiermusic.corpus.synth import DRUM_PART
from hiermusic.services.common.music import key_index

CAP_S = 240.0  # longer pieces are cut at the last bar line before this
TAIL_S = 1.5  # silence after the last note so the final chord can ring out

ROLE_VELOCITY = {"lead": 0.75, "inner": 0.6, "bass": 0.65, "chords": 0.5, "drone": 0.45}
ROLE_GAIN = {"lead": 1.0, "inner": 0.7, "bass": 0.8, "chords": 0.5, "drone": 0.45}
DRUM_GAIN = 0.5  # dance-tune percussion stays in the background
# Timbres per palette for the top voice, inner voices and the lowest voice.
PALETTES = {
    "chorale": (("organ", "keys", "bell", "pad", "plucked"), ("organ", "pad", "keys"), ("organ", "bass", "keys")),
    "quartet": (("keys", "plucked", "organ", "bell"), ("pad", "keys", "organ"), ("bass", "keys", "organ")),
    "choir": (("organ", "pad", "bell", "keys"), ("organ", "pad"), ("organ", "bass", "pad")),
    "folk": (("plucked", "keys", "bell", "organ"), ("pad", "keys", "organ"), ("bass",)),
}
ACCOMPANIMENTS = ("chords", "drone", "bass", "solo")  # for a single melody
ACCOMPANIMENT_WEIGHTS = (0.45, 0.2, 0.2, 0.15)


class ScoreError(Exception):
    """A score that cannot be used; the corpus builder skips it."""


@dataclass(frozen=True)
class Collection:
    name: str
    dirs: tuple[str, ...]  # music21 corpus directories
    weight: float  # share of list_scores' selection
    style: str  # the labels' style
    palette: str  # key of PALETTES
    sections: tuple[str, ...]  # section finders of score_labels to try, in order
    path_filter: str = ""  # regex a corpus path must match


COLLECTIONS = (
    Collection("bach", ("bach",), 0.24, "classical", "chorale", ("phrase", "strain"), r"^bach/bwv[^/]*\.(mxl|xml|krn)$"),
    Collection("essen", ("essenFolksong",), 0.2, "folk", "folk", ("phrase", "strain"), r"^essenFolksong/(?!test)"),
    Collection("oneills", ("oneills1850",), 0.15, "folk", "folk", ("strain", "bars")),
    Collection("ryans", ("ryansMammoth",), 0.15, "folk", "folk", ("strain", "bars")),
    Collection("airds", ("airdsAirs",), 0.06, "folk", "folk", ("strain", "phrase")),
    Collection("quartet", ("beethoven", "mozart", "haydn"), 0.06, "classical", "quartet", ("strain", "phrase"),
               r"/movement\d\.mxl$"),
    Collection("palestrina", ("palestrina",), 0.07, "classical", "choir", ("strain", "phrase")),
    Collection("monteverdi", ("monteverdi",), 0.07, "classical", "choir", ("strain", "phrase"), r"\.mxl$"),
)
_BY_NAME = {c.name: c for c in COLLECTIONS}
_ALIASES = {"essenFolksong": "essen", "oneills1850": "oneills", "ryansMammoth": "ryans", "airdsAirs": "airds"}
_TUNE_NUMBER = re.compile(r"^X:\s*(\d+)", re.MULTILINE)
_FORMAT_RANK = {"mxl": 0, "xml": 1, "musicxml": 1, "krn": 2, "abc": 3}


@dataclass(frozen=True)
class ScoreRef:
    collection: str  # name of a Collection
    path: str  # relative to music21's corpus directory, e.g. "bach/bwv66.6.mxl"
    number: int | None = None  # tune number (ABC X:) inside a multi-tune file

    @property
    def song_id(self) -> str:
        top, *rest = PurePosixPath(self.path).with_suffix("").parts
        name = "-".join([_ALIASES.get(top, top), *rest]).replace(" ", "_")
        return f"score-{name}" + (f"-{self.number}" if self.number is not None else "")


def list_scores(limit: int | None, seed: int) -> list[ScoreRef]:
    """A seed-shuffled selection across collections, each drawn in proportion
    to its weight until it runs out; every tune of a multi-tune file is its own
    item. Only file names and ABC "X:" lines are read, so this is cheap."""
    rng = random.Random(seed)
    pools = {}
    for collection in COLLECTIONS:
        refs = list(_collection_refs(collection))
        rng.shuffle(refs)
        if refs:
            pools[collection.name] = refs
    chosen: list[ScoreRef] = []
    while pools and (limit is None or len(chosen) < limit):
        names = sorted(pools)
        name = rng.choices(names, [_BY_NAME[n].weight for n in names])[0]
        chosen.append(pools[name].pop())
        if not pools[name]:
            del pools[name]
    return chosen


@cache
def _collection_refs(collection: Collection) -> tuple[ScoreRef, ...]:
    root = _corpus_root()
    refs = []
    for path in _unique_paths(collection, root):
        if path.endswith(".abc"):
            text = (root / path).read_text(errors="replace")
            refs += [ScoreRef(collection.name, path, n) for n in dict.fromkeys(map(int, _TUNE_NUMBER.findall(text)))]
        else:
            refs.append(ScoreRef(collection.name, path))
    return tuple(refs)


def _unique_paths(collection: Collection, root: Path) -> list[str]:
    """Corpus paths of a collection, one per piece: some Bach chorales ship as
    both MusicXML and Humdrum, and MusicXML is kept."""
    by_stem: dict[str, list[str]] = {}
    for directory in collection.dirs:
        for full in corpus.getComposer(directory):
            path = Path(full).relative_to(root).as_posix()
            if not collection.path_filter or re.search(collection.path_filter, path):
                by_stem.setdefault(path.rsplit(".", 1)[0], []).append(path)
    return sorted(min(paths, key=lambda p: _FORMAT_RANK.get(p.rsplit(".", 1)[1], 9)) for paths in by_stem.values())


@cache
def _corpus_root() -> Path:
    return Path(common.getCorpusFilePath())


def load_score(ref: ScoreRef, seed: int) -> tuple[Performance, SongLabels]:
    """Parse `ref`, draw instrumentation and tempo from (seed, ref), play its
    repeats, cut it at CAP_S and render it to notes with its labels. The same
    (ref, seed) always gives the same result. Raises ScoreError when the score
    cannot be parsed or has no notes."""
    collection = _BY_NAME.get(ref.collection)
    if collection is None:
        raise ScoreError(f"{ref}: unknown collection {ref.collection!r}; known: {', '.join(_BY_NAME)}")
    rng = random.Random(f"{seed}:{ref.song_id}")
    tune_text = _abc_tune(ref)
    score = _parse(ref, tune_text)
    header = sl.abc_header(tune_text)

    ts = _main_meter(score.parts[0])
    beat = float(ts.beatDuration.quarterLength) or 1.0
    piece = sl.describe(ref.collection, ref.path, score.metadata, header, ts.ratioString)
    bpm, tempo_text = _tempo(score, piece.form, beat, rng)
    quarter_s = 60.0 / (bpm * beat)
    timeline = st.play(score, CAP_S / quarter_s, float(ts.barDuration.quarterLength))
    bars, end = timeline.bars, timeline.end
    beats, downbeats = st.beat_grid(bars, beat)
    parts = [st.flatten(p, timeline) for p in score.parts]
    voices = [v.events for v in parts if v.events]
    if not voices:
        raise ScoreError(f"{ref.song_id} ({ref.path}): the score has no notes")
    key, mode = sl.key_mode(score, bool(tune_text))

    palette = PALETTES[collection.palette]
    if len(voices) == 1:
        voice = next(v for v in parts if v.events)
        roles, chords, accompaniment = _folk_arrangement(voice, bars, beats, key, mode, piece.form, rng)
        timbres = {"lead": rng.choice(palette[0]), "chords": rng.choice(palette[1]), "drone": rng.choice(("pad", "organ")),
                   "bass": "bass"}
    else:
        roles, chords, accompaniment = _polyphonic_roles(voices), [], "voices"
        timbres = _voice_timbres(palette, rng)
    drums = piece.form in sl.DANCE_FORMS and rng.random() < 0.5
    downbeat_set = {round(d, 4) for d in downbeats}
    notes = [
        Note(e.onset * quarter_s, e.duration * quarter_s * 0.92, e.pitch, _velocity(role, e.onset, downbeat_set, rng),
             timbres[role], role)
        for role, events in roles for e in events
    ]
    notes.sort(key=lambda n: (n.onset_s, n.pitch))
    hits = _dance_drums(beats, downbeat_set, quarter_s) if drums else []
    duration_s = end * quarter_s + TAIL_S

    lead = roles[0][1]
    marks = sorted({m for v in parts for m in v.marks})
    spans = sl.find_sections(collection.sections, bars, st.strain_starts(score.parts[0]), marks, lead, end, beat)
    used = list(dict.fromkeys(timbres[role] for role, events in roles if events))
    piece.accompaniment, piece.drums, piece.instruments = accompaniment, drums, used
    piece.key, piece.mode, piece.tempo_bpm, piece.tempo_text = key, mode, bpm, tempo_text
    piece.section_types = [s.type for s in spans]
    labels = SongLabels(
        song_id=ref.song_id, source="score", caption=sl.caption(piece, rng), duration_s=round(duration_s, 4),
        sections=sl.section_labels(spans, notes, downbeats, quarter_s, duration_s),
        tempo_bpm=round(bpm, 2), key=key, mode=mode,
        beats=[round(b * quarter_s, 4) for b in beats], downbeats=[round(d * quarter_s, 4) for d in downbeats],
        chords=[ChordLabel(round(t * quarter_s, 4), c) for t, c in chords],
        instruments=used, drums=drums, style=collection.style,
        meta=piece.meta(ref.path, ref.number, truncated=timeline.truncated),
    )
    gains = {role: ROLE_GAIN[role] for role, _ in roles}
    if drums:
        gains[DRUM_PART] = DRUM_GAIN
    return Performance(round(duration_s, 4), notes, hits, gains), labels


def _abc_tune(ref: ScoreRef) -> str:
    if not ref.path.endswith(".abc"):
        return ""
    text = (_corpus_root() / ref.path).read_text(errors="replace")
    try:
        return abcFormat.ABCFile.extractReferenceNumber(text, ref.number) if ref.number is not None else text
    except abcFormat.ABCFileException as err:
        raise ScoreError(f"{ref.song_id} ({ref.path}): {err}") from err


def _parse(ref: ScoreRef, tune_text: str) -> stream.Score:
    try:
        with warnings.catch_warnings():  # music21 warns about every lenient ABC quirk
            warnings.simplefilter("ignore")
            parsed = converter.parse(_corpus_root() / ref.path, number=ref.number)
    except Exception as err:  # music21 raises many unrelated types on bad input
        raise ScoreError(f"{ref.song_id} ({ref.path}): music21 cannot parse it: {err}") from err
    if not isinstance(parsed, stream.Score) or not parsed.parts:
        raise ScoreError(f"{ref.song_id} ({ref.path}): not a single score with parts ({type(parsed).__name__})")
    if tune_text:
        st.mark_abc_lines(parsed.parts[0], tune_text)
    return parsed


def _main_meter(part: stream.Part) -> meter.TimeSignature:
    """The time signature that governs the most music (ABC pickups are
    sometimes written as a 1/16 bar of their own)."""
    covered: dict[str, float] = {}
    signatures: dict[str, meter.TimeSignature] = {}
    current = None
    for measure in part.getElementsByClass(stream.Measure):
        current = measure.timeSignature or current
        if current is not None:
            signatures.setdefault(current.ratioString, current)
            covered[current.ratioString] = covered.get(current.ratioString, 0.0) + float(measure.quarterLength)
    if not covered:
        found = part.recurse().getElementsByClass(meter.TimeSignature).first()
        return found or meter.TimeSignature("4/4")
    return signatures[max(covered, key=covered.get)]


def _tempo(score: stream.Score, form: str, beat: float, rng: random.Random) -> tuple[float, str]:
    """Beats per minute from the first explicit metronome mark or tempo word,
    else drawn from the form's usual range; and the tempo word, if any."""
    for mark in score.recurse().getElementsByClass(tempo.MetronomeMark):
        if mark.number is None and not mark.text:
            continue  # music21's implicit default, not the composer's
        quarter_bpm = mark.getQuarterBPM()
        if quarter_bpm and 40 <= quarter_bpm / beat <= 200:
            return float(quarter_bpm / beat), mark.text or ""
    low, high = sl.FORM_TEMPO.get(form, (70, 120))
    return float(rng.randint(low, high)), ""


def _polyphonic_roles(voices: list[list[Event]]) -> list[tuple[str, list[Event]]]:
    """Highest voice leads, lowest is the bass, the rest are inner voices."""
    order = sorted(voices, key=lambda v: -sum(e.pitch for e in v) / len(v))
    return [("lead" if i == 0 else "bass" if i == len(order) - 1 else "inner", v) for i, v in enumerate(order)]


def _voice_timbres(palette: tuple[tuple[str, ...], ...], rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.35:  # a consort: every voice on one instrument
        one = rng.choice(tuple(t for t in palette[0] if t in palette[1]) or palette[0])
        return {"lead": one, "inner": one, "bass": one}
    return {"lead": rng.choice(palette[0]), "inner": rng.choice(palette[1]), "bass": rng.choice(palette[2])}


def _folk_arrangement(
    voice: st.Voice, bars: list[st.Bar], beats: list[float], key: str, mode: str, form: str, rng: random.Random,
) -> tuple[list[tuple[str, list[Event]]], list[tuple[float, str]], str]:
    """A single melody gets a drawn accompaniment: chords (with bass), a drone,
    a bass line alone, or none. Harmony comes from the score's chord symbols
    when it has some, else it is fitted to the melody bar by bar."""
    style = rng.choices(ACCOMPANIMENTS, ACCOMPANIMENT_WEIGHTS)[0]
    melody, symbols = voice.events, voice.symbols
    roles: list[tuple[str, list[Event]]] = [("lead", melody)]
    if style == "solo":
        return roles, [], style
    tonic = key_index(key)
    if style == "drone":
        drone = [Event(b.start, b.end - b.start, _voiced(p, 48)) for b in bars if not b.pickup for p in (tonic, tonic + 7)]
        return roles + [("drone", drone)], [], style
    if len(symbols) >= 2:
        ends = [s.onset for s in symbols[1:]] + [bars[-1].end]
        spans = [sl.Harmony(s.onset, e, s.root, sl.quality_of(s.kind)) for s, e in zip(symbols, ends)]
    else:
        spans = sl.fit_harmony(melody, bars, tonic, mode)
    bass = []
    for span in spans:
        pattern = [t for t in beats if span.start <= t < span.end] if form in sl.DANCE_FORMS else [span.start]
        for i, t in enumerate(pattern):  # dance tunes alternate root and fifth, beat by beat
            length = (pattern[i + 1] if i + 1 < len(pattern) else span.end) - t
            bass.append(Event(t, length, _voiced(span.root + (7 if i % 2 else 0), 40)))
    roles.append(("bass", bass))
    if style == "chords":
        chords = [Event(s.start, s.end - s.start, _voiced(s.root + i, 52)) for s in spans for i in s.intervals]
        roles.append(("chords", chords))
    labels = []
    for t in beats:
        span = next((s for s in spans if s.start <= t < s.end), None)
        labels.append((t, span.label if span else "N"))
    return roles, labels, style


def _voiced(pitch_class: int, low: int) -> int:
    """The pitch of this class in the octave from `low` up: bass E2..D#3, chords E3..D#4."""
    return low + (pitch_class - low) % 12


def _velocity(role: str, onset: float, downbeats: set[float], rng: random.Random) -> float:
    accent = 0.08 if round(onset, 4) in downbeats else 0.0
    return round(min(1.0, max(0.05, ROLE_VELOCITY[role] + accent + rng.uniform(-0.04, 0.04))), 3)


def _dance_drums(beats: list[float], downbeats: set[float], quarter_s: float) -> list[DrumHit]:
    """A light groove for dance tunes: kick on the bar line, hat on the beats."""
    return [
        DrumHit(t * quarter_s, "kick", 0.55) if round(t, 4) in downbeats else DrumHit(t * quarter_s, "hat", 0.3)
        for t in beats
    ]
