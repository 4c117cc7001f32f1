"""What a score says about itself, turned into labels: its form and origin
from the metadata, key and mode, the harmony a lone melody implies, sections
from its phrase or repeat structure, and a caption in varied wording."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

from music21 import key, metadata, stream

from hiermusic.corpus.labels import SectionLabel
from hiermusic.corpus.performance import Note
from hiermusic.services.common.music import KEYS, MODES

if TYPE_CHECKING:
    from hiermusic.corpus.score_timeline import Bar, Event

# Beats per minute (of the meter's beat) a form is usually played at.
FORM_TEMPO = {
    "chorale": (60, 84), "string quartet movement": (60, 140), "mass movement": (56, 80), "madrigal": (60, 90),
    "reel": (96, 132), "jig": (96, 126), "slip jig": (96, 120), "hornpipe": (80, 112), "strathspey": (70, 96),
    "highland fling": (90, 120), "clog dance": (84, 112), "march": (96, 120), "polka": (100, 130),
    "waltz": (120, 140), "set dance": (80, 110), "air": (60, 80), "folk song": (70, 116),
}
DANCE_FORMS = frozenset({"reel", "jig", "slip jig", "hornpipe", "strathspey", "highland fling", "clog dance",
                         "march", "polka", "waltz", "set dance"})
# Words in an ABC R:, T: or N: field that name the form, most specific first.
_FORM_WORDS = (
    ("slip jig", "slip jig"), ("slipjig", "slip jig"), ("jig", "jig"), ("reel", "reel"), ("hornpipe", "hornpipe"),
    ("strathspey", "strathspey"), ("fling", "highland fling"), ("clog", "clog dance"), ("quick step", "march"),
    ("quickstep", "march"), ("march", "march"), ("polka", "polka"), ("waltz", "waltz"), ("set dance", "set dance"),
    ("air", "air"), ("slow", "air"),
)
# Essen genre (R:) and region (O:) words, in German, to English.
_ESSEN_GENRES = (("Kinder", "children's song"), ("Wiegen", "lullaby"), ("Hochzeit", "wedding song"),
                 ("Trink", "drinking song"), ("Soldaten", "soldiers' song"), ("Kriegs", "soldiers' song"),
                 ("geistlich", "sacred song"), ("religi", "sacred song"), ("Tanz", "dance song"),
                 ("Liebe", "love song"), ("Ballade", "ballad"), ("Romanze", "ballad"), ("Xiaodiao", "ditty"),
                 ("Shange", "mountain song"))
_ESSEN_REGIONS = {"China": "Chinese", "Irland": "Irish", "Luxemburg": "Luxembourgish", "Lothringen": "Lorraine",
                  "Elsass": "Alsatian", "Schweiz": "Swiss", "Oesterreich": "Austrian", "Niederlande": "Dutch",
                  "Schlesien": "Silesian", "Westfalen": "Westphalian", "Bayern": "Bavarian", "Schwaben": "Swabian",
                  "Franken": "Franconian", "Sachsen": "Saxon", "Boehmen": "Bohemian", "Thueringen": "Thuringian",
                  "Deutschland": "German"}
_COLLECTION = {
    "bach": ("chorale", "J.S. Bach", "", ("Bach's four-part chorales", "the Bach chorale collection")),
    "essen": ("folk song", "", "", ("the Essen folk song collection", "the Essen folk song database")),
    "oneills": ("tune", "", "Irish", ("O'Neill's Music of Ireland", "O'Neill's 1850 collection")),
    "ryans": ("tune", "", "", ("Ryan's Mammoth Collection", "an 1883 book of fiddle tunes")),
    "airds": ("air", "", "Scottish", ("Aird's Airs", "Aird's Selection of Scotch, English, Irish and Foreign Airs")),
    "quartet": ("string quartet movement", "", "", ()),
    "palestrina": ("mass movement", "Palestrina", "Renaissance", ()),
    "monteverdi": ("madrigal", "Monteverdi", "Renaissance", ()),
}
_ORDINALS = {"3": "third", "4": "fourth", "5": "fifth"}
_MODE_ALIASES = {"ionian": "major", "aeolian": "minor"}
TIMBRE_WORDS = {"plucked": ("plucked strings", "harp", "plucked guitar"), "keys": ("piano", "keys", "electric piano"),
                "organ": ("organ", "pipe organ", "church organ"), "pad": ("soft pad", "synth pad", "string pad"),
                "bass": ("bass", "synth bass"), "bell": ("bells", "chimes", "glockenspiel")}
_ACCOMPANIMENT_WORDS = {"chords": ("over bass and chords", "with chordal accompaniment", "backed by bass and chords"),
                        "drone": ("over a drone", "above a sustained drone", "with a drone beneath"),
                        "bass": ("with a simple bass line", "over a walking bass", "with bass accompaniment"),
                        "solo": ("unaccompanied", "solo, without accompaniment", "as a bare melody")}


@dataclass
class PieceInfo:
    """What captions and meta are written from; load_score fills the sound."""
    collection: str
    form: str
    composer: str
    title: str
    origin: str  # adjective: Irish, German, Renaissance...
    source: tuple[str, ...]  # ways to name the book it comes from
    meter: str
    key: str = ""
    mode: str = ""
    tempo_bpm: float = 0.0
    tempo_text: str = ""
    instruments: list[str] = field(default_factory=list)
    accompaniment: str = ""
    drums: bool = False
    section_types: list[str] = field(default_factory=list)

    def meta(self, path: str, number: int | None, truncated: bool) -> dict[str, str]:
        values = {"collection": self.collection, "corpus_path": path, "tune_number": "" if number is None else str(number),
                  "composer": self.composer or "traditional", "title": self.title, "form": self.form,
                  "meter": self.meter, "accompaniment": self.accompaniment, "truncated": str(truncated).lower()}
        return {k: v for k, v in values.items() if v}


def abc_header(tune_text: str) -> dict[str, str]:
    """First value of each ABC header field (T:, R:, O:, N:...)."""
    fields: dict[str, str] = {}
    for line in tune_text.splitlines():
        match = re.match(r"^([A-Za-z]):\s*(.*?)\s*$", line)
        if match and match.group(2):
            fields.setdefault(match.group(1), match.group(2).strip('"'))
    return fields


def describe(collection: str, path: str, md: metadata.Metadata, header: dict[str, str], meter: str) -> PieceInfo:
    form, composer, origin, source = _COLLECTION[collection]
    title = header.get("T") or md.title or ""
    if collection == "bach":
        title = re.sub(r"^bwv", "BWV ", path.split("/")[-1].rsplit(".", 1)[0])
    elif collection == "quartet":
        composer = path.split("/")[0].capitalize()
        work = re.search(r"(?:opus(\d+)(?:no(\d+))?|k(\d+))/movement(\d+)", path)
        if work:
            opus, number, kochel, movement = work.groups()
            name = f"K. {kochel}" if kochel else f"Op. {opus}" + (f" No. {number}" if number else "")
            title = f"{name}, movement {movement}"
    elif collection == "palestrina" and "section" in title.lower():
        title = ""  # "First Section" names a part of the file, not the piece
    elif collection == "monteverdi":
        title = title.split(". ", 1)[-1].title()  # "CANTO 1. LA GIOVINETTA PIANTA"
        book = re.search(r"madrigal\.(\d)\.", path)
        source = (f"his {_ORDINALS.get(book.group(1), book.group(1))} book of madrigals",) if book else ()
    elif collection == "essen":
        genre = header.get("R", "")
        form = next((english for word, english in _ESSEN_GENRES if word.lower() in genre.lower()), form)
        places = [p.strip() for p in header.get("O", "").split(",")]
        origin = next((_ESSEN_REGIONS[p] for p in reversed(places) if p in _ESSEN_REGIONS), "")
    elif form in ("tune", "air"):
        title, _, named = title.partition(" -- ")  # Ryan's titles read "Acacia -- Reel"
        hints = " ".join((header.get("R", ""), named, title, header.get("N", ""))).lower()
        form = next((f for word, f in _FORM_WORDS if re.search(rf"\b{word}\b", hints)), None) or _form_of_meter(meter, form)
    composer = header.get("C", "") if collection in ("oneills", "ryans", "airds", "essen") else composer
    return PieceInfo(collection, form, composer, _tidy_title(title), origin, source, meter)


def _tidy_title(title: str) -> str:
    """ "Last of the Twins, The" -> "The Last of the Twins"; shouting titles calmed."""
    title = title.strip().rstrip(".")
    head, comma, article = title.rpartition(", ")
    if comma and article.lower() in ("the", "a", "an"):
        title = f"{article.capitalize()} {head.rstrip('.')}"
    return title.title() if title.isupper() else title


def _form_of_meter(meter: str, default: str) -> str:
    return {"6/8": "jig", "9/8": "slip jig"}.get(meter, default)


def key_mode(score: stream.Score, notated_wins: bool) -> tuple[str, str]:
    """Key and mode as the planner spells them. An ABC K: field names modes
    (dorian, mixolydian) that a key-finding algorithm cannot tell, so it wins
    there; elsewhere music21's analysis does (MusicXML modes are often absent)."""
    if notated_wins:
        found = score.recurse().getElementsByClass(key.Key).first()
        mode = _MODE_ALIASES.get(found.mode, found.mode) if found is not None else None
        if mode in MODES:
            return KEYS[found.tonic.pitchClass], mode
    analysed = score.analyze("key")
    return KEYS[analysed.tonic.pitchClass], _MODE_ALIASES.get(analysed.mode, analysed.mode)


# --- harmony for a lone melody -------------------------------------------------

_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
           "dorian": (0, 2, 3, 5, 7, 9, 10), "mixolydian": (0, 2, 4, 5, 7, 9, 10)}
# Scale degrees a folk accompanist reaches for, and how much to prefer each.
_DEGREE_PRIOR = ((0, 0.35), (3, 0.2), (4, 0.2), (5, 0.1), (6, 0.1), (1, 0.05))


@dataclass(frozen=True)
class Harmony:
    start: float  # quarter lengths
    end: float
    root: int  # pitch class
    quality: str  # maj | min | dim | 7 | min7...

    @property
    def intervals(self) -> tuple[int, int, int]:
        third = 3 if self.quality.startswith(("min", "dim")) else 4
        return 0, third, 6 if self.quality == "dim" else 7

    @property
    def label(self) -> str:
        return f"{KEYS[self.root]}:{self.quality}"


def quality_of(kind: str) -> str:
    """Chord-label quality of a music21 chordKind."""
    if kind.startswith("minor"):
        return "min7" if "seventh" in kind else "min"
    if kind.startswith("diminished"):
        return "dim"
    return "7" if kind.startswith("dominant") else "maj"


def fit_harmony(melody: list[Event], bars: list[Bar], tonic: int, mode: str) -> list[Harmony]:
    """One triad per bar: the diatonic chord whose tones cover most of the
    bar's melody by duration, nudged toward I, IV and V; the last bar is the
    tonic. Pickups get no chord."""
    scale = [(tonic + step) % 12 for step in _SCALES.get(mode, _SCALES["major"])]
    triads = []  # (root, quality, tones, prior)
    for degree, prior in _DEGREE_PRIOR:
        root, third, fifth = scale[degree], scale[(degree + 2) % 7], scale[(degree + 4) % 7]
        if (fifth - root) % 12 == 7:  # diminished triads sound wrong under a folk tune
            triads.append((root, "maj" if (third - root) % 12 == 4 else "min", {root, third, fifth}, prior))
    full = [b for b in bars if not b.pickup]
    spans = []
    for i, b in enumerate(full):
        fits = [_covered(melody, b, tones) + prior * (b.end - b.start) for _, _, tones, prior in triads]
        root, quality, _, _ = triads[0] if i == len(full) - 1 else triads[fits.index(max(fits))]
        spans.append(Harmony(b.start, b.end, root, quality))
    return spans


def _covered(melody: list[Event], b: Bar, tones: set[int]) -> float:
    """How long, within the bar, the melody sounds one of `tones`."""
    return sum(min(e.onset + e.duration, b.end) - max(e.onset, b.start)
               for e in melody if e.onset < b.end and e.onset + e.duration > b.start and e.pitch % 12 in tones)


# --- sections --------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    start: float  # quarter lengths
    end: float
    type: str
    repeat_of: int


def find_sections(methods: tuple[str, ...], bars: list[Bar], strain_starts: frozenset[int], marks: list[float],
                  lead: list[Event], end: float, beat: float) -> list[Span]:
    """Sections from the first method that finds at least two: "strain"
    (repeat and double bar lines, and the jumps back where a repeat is
    played), "phrase" (fermatas and ABC line ends), "bars" (the 8-bar strains of
    dance tunes). A piece none of them divides is one section "A"."""
    bar_length = _bar_length(bars)
    for method in methods:
        keys: dict[float, object] = {0.0: bars[0].number}  # what makes two sections the same
        minimum = 1.5 * bar_length
        if method == "strain":
            starts = []
            for before, b in pairwise(bars):
                if b.number <= before.number or b.number in strain_starts:
                    starts.append(b.start)
                    keys[b.start] = b.number  # a repeat with another ending is still the same strain
        elif method == "phrase":
            starts, keys, minimum = sorted({m for m in marks if 0 < m < end}), {}, 2 * beat
        else:
            starts, keys = [b.start for b in bars if not b.pickup][8::8], {}
        bounds = _merge_short([0.0, *starts, end], minimum)
        if len(bounds) > 2:
            pairs = list(pairwise(bounds))
            ids = [keys[s] if s in keys else _content(lead, s, e) for s, e in pairs]
            return _spans(pairs, ids, "phrase" if method == "phrase" else None)
    return [Span(0.0, end, "A", -1)]


def _bar_length(bars: list[Bar]) -> float:
    lengths = sorted(b.end - b.start for b in bars if not b.pickup)
    return lengths[len(lengths) // 2] if lengths else 4.0


def _merge_short(bounds: list[float], minimum: float) -> list[float]:
    """Drop boundaries that would leave a section shorter than `minimum`."""
    kept = [bounds[0]]
    for b in bounds[1:-1]:
        if b - kept[-1] >= minimum and bounds[-1] - b >= minimum:
            kept.append(b)
    return kept + [bounds[-1]]


def _content(lead: list[Event], start: float, end: float) -> tuple:
    return tuple((round(e.onset - start, 3), e.pitch, round(e.duration, 3)) for e in lead if start <= e.onset < end)


def _spans(pairs: list[tuple[float, float]], keys: list, fixed_type: str | None) -> list[Span]:
    first: dict = {}
    letters: dict = {}
    spans = []
    for i, ((start, end), k) in enumerate(zip(pairs, keys)):
        letters.setdefault(k, chr(ord("A") + min(len(letters), 25)))
        spans.append(Span(start, end, fixed_type or letters[k], first.get(k, -1)))
        first.setdefault(k, i)
    return spans


def section_labels(spans: list[Span], notes: list[Note], downbeats: list[float], quarter_s: float,
                   duration_s: float) -> list[SectionLabel]:
    """Spans in seconds, the last one running to the end of the audio. Energy
    is note density relative to the busiest section, scaled by loudness."""
    bounds = [s.start * quarter_s for s in spans[1:]]
    starts, ends = [0.0, *bounds], [*bounds, duration_s]
    density, loudness = [], []
    for start, end in zip(starts, ends):
        inside = [n for n in notes if start <= n.onset_s < end]
        density.append(len(inside) / max(end - start, 1e-3))
        loudness.append(sum(n.velocity for n in inside) / len(inside) if inside else 0.0)
    busiest = max(density) or 1.0
    return [
        SectionLabel(
            type=span.type, start_s=round(start, 4), end_s=round(end, 4),
            bars=max(1, sum(1 for d in downbeats if span.start - 1e-6 <= d < span.end - 1e-6)),
            energy=round(min(1.0, 0.2 + 0.8 * (d / busiest) * (0.5 + 0.5 * l)), 3), repeat_of=span.repeat_of,
        )
        for span, start, end, d, l in zip(spans, starts, ends, density, loudness)
    ]


# --- captions --------------------------------------------------------------------

def caption(piece: PieceInfo, rng: random.Random) -> str:
    """One of several sentence shapes; title, key, meter, tempo, source and
    structure each come and go, so no one wording dominates."""
    adjective = _pace(piece.tempo_bpm, rng) if rng.random() < 0.5 else ""
    words = [w for w in (adjective, piece.origin, piece.form) if w]
    subject = f"{'an' if words[0][0] in 'aeiouAEIOU' else 'a'} {' '.join(words)}"
    if piece.composer and rng.random() < 0.8:
        subject += f" by {piece.composer}"
    instruments = _join([rng.choice(TIMBRE_WORDS[t]) for t in piece.instruments])
    extras = []
    if piece.title and rng.random() < 0.4:
        extras.append(rng.choice((f'called "{piece.title}"', f'titled "{piece.title}"', f'known as "{piece.title}"')))
    if piece.source and rng.random() < 0.4:
        extras.append(f"from {rng.choice(piece.source)}")
    if rng.random() < 0.5:
        extras.append(rng.choice((f"in {piece.key} {piece.mode}", f"in the key of {piece.key} {piece.mode}")))
    if rng.random() < 0.35:
        extras.append(rng.choice((f"in {piece.meter} time", f"in {piece.meter}", f"with a {piece.meter} meter")))
    if rng.random() < 0.35:
        bpm = round(piece.tempo_bpm)
        extras.append(rng.choice((f"at {bpm} bpm", f"around {bpm} beats per minute", f"tempo {bpm} bpm")))
    elif piece.tempo_text and rng.random() < 0.5:
        extras.append(f"marked {piece.tempo_text}")
    if rng.random() < 0.3 and len(piece.section_types) > 1:
        extras.append(_structure(piece.section_types, rng))
    accompaniment = rng.choice(_ACCOMPANIMENT_WORDS[piece.accompaniment]) if piece.accompaniment in _ACCOMPANIMENT_WORDS else ""
    groove = rng.choice(("with light percussion", "with a soft kick and hats")) if piece.drums else ""
    rng.shuffle(extras)
    shape = rng.randrange(4)
    if shape == 0:
        clauses = [subject, *extras, f"played on {instruments}", accompaniment, groove]
    elif shape == 1:
        clauses = [f"{instruments} playing {subject}", *extras, accompaniment, groove]
    elif shape == 2:  # short
        clauses = [f"{subject} on {instruments}"]
    else:
        clauses = [f"{subject}, arranged for {instruments}" + (f" {accompaniment}" if accompaniment else ""),
                   *extras, groove]
    text = ", ".join(c for c in clauses if c)
    return text[0].upper() + text[1:] + "."


def _pace(bpm: float, rng: random.Random) -> str:
    if bpm < 76:
        return rng.choice(("slow", "stately", "gentle"))
    if bpm < 108:
        return rng.choice(("moderate", "flowing", "steady"))
    return rng.choice(("lively", "brisk", "spirited"))


def _structure(types: list[str], rng: random.Random) -> str:
    if types[0] == "phrase":
        return rng.choice((f"in {len(types)} phrases", f"{len(types)} phrases long"))
    form = "".join(types)
    return rng.choice((f"in {form} form", f"with {len(set(types))} strains ({form})"))


def _join(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
