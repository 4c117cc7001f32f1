"""When each note of a score sounds: measures in play order with repeats and
first/second endings taken, bars and beats, and each part flattened to notes
with ties merged. All times are in quarter lengths.

music21's own expandRepeats deep-copies the whole score once per repeat
(16 s for one many-strain O'Neill tune); walking the measures in play order
is linear, and stops at the length cap."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from music21 import abcFormat, bar, expressions, harmony, note, spanner, stream

PHRASE_MARK = "hiermusic-phrase-end"  # music21 group tagging an ABC line's last note or rest


@dataclass(frozen=True)
class Event:
    onset: float  # quarter lengths from the start
    duration: float
    pitch: int  # MIDI


@dataclass(frozen=True)
class Bar:
    number: int  # the score's measure number (repeats bring numbers back)
    start: float
    end: float
    pickup: bool  # an anacrusis: its beats count back from the next bar line


@dataclass(frozen=True)
class ChordSymbol:
    onset: float
    root: int  # pitch class
    kind: str  # music21's chordKind: major, minor-seventh...


@dataclass
class Voice:
    events: list[Event] = field(default_factory=list)
    marks: list[float] = field(default_factory=list)  # where phrases end: fermatas, ABC line ends
    symbols: list[ChordSymbol] = field(default_factory=list)


@dataclass(frozen=True)
class Timeline:
    order: list[int]  # measure indices in play order
    starts: list[float]  # where each played measure starts
    bars: list[Bar]
    end: float  # the last bar line played
    truncated: bool  # stopped at the cap before the music ended


def play(score: stream.Score, cap: float, bar_length: float) -> Timeline:
    """Measures of the first part in play order until the music ends or the
    first bar line at or past `cap`. A part without measures is one long bar
    sequence of `bar_length`."""
    measures = list(score.parts[0].getElementsByClass(stream.Measure))
    if not measures:
        total = float(score.highestTime)
        count = max(1, int(-(-min(total, cap) // bar_length)))
        bars = [Bar(i + 1, i * bar_length, min((i + 1) * bar_length, total), False) for i in range(count)]
        return Timeline([], [], bars, bars[-1].end, total > bars[-1].end)
    lengths = _measure_lengths(score, len(measures))
    order, finished = _play_order(score.parts[0], measures, lengths, cap)
    starts, bars, t = [], [], 0.0
    for index in order:
        starts.append(t)
        pickup = _is_pickup(measures[index], bars, lengths[index], bar_length)
        bars.append(Bar(measures[index].number, t, t + lengths[index], pickup))
        t += lengths[index]
    while len(bars) > 1 and bars[-1].end > cap:  # end on the last bar line before the cap
        bars.pop(), order.pop(), starts.pop()
        finished = False
    return Timeline(order, starts, bars, bars[-1].end, not finished)


def _is_pickup(measure: stream.Measure, before: list[Bar], length: float, bar_length: float) -> bool:
    """An anacrusis: marked as one, a short first bar, or a short bar that
    completes the short bar before it (ABC writes "... d2 :| e | faf ..."
    where a strain's last bar and the next strain's pickup share one bar)."""
    if measure.paddingLeft > 0:
        return True
    short = length < bar_length - 1e-6
    if not before:
        return short
    last = before[-1].end - before[-1].start
    return short and last < bar_length - 1e-6 and last + length <= bar_length + 1e-6


def _measure_lengths(score: stream.Score, count: int) -> list[float]:
    """The longest part decides a measure's length, so parts never overlap."""
    lengths = [0.0] * count
    for part in score.parts:
        for i, measure in enumerate(part.getElementsByClass(stream.Measure)):
            if i < count:
                lengths[i] = max(lengths[i], float(measure.quarterLength))
    return lengths


def _play_order(part: stream.Part, measures: list[stream.Measure], lengths: list[float],
                cap: float) -> tuple[list[int], bool]:
    index_of = {id(m): i for i, m in enumerate(measures)}
    endings: dict[int, set[int]] = {}  # measure index -> passes it is played on
    for bracket in part.recurse().getElementsByClass(spanner.RepeatBracket):
        for measure in bracket.getSpannedElements():
            if id(measure) in index_of:
                endings[index_of[id(measure)]] = set(bracket.numberRange)
    order: list[int] = []
    total, i, start, turn, jumped = 0.0, 0, 0, 1, False
    played: dict[int, int] = {}  # repeat-end measure -> times played so far
    while i < len(measures) and total < cap and len(order) < 8 * len(measures):
        measure = measures[i]
        if turn > 1 and not jumped and i not in endings and i - 1 in endings:
            turn, start = 1, i  # walked past the last ending of a repeat
        jumped = False
        if _repeat(measure.leftBarline, "start"):
            start = i
        if i in endings and turn not in endings[i]:
            i += 1
            continue
        order.append(i)
        total += lengths[i]
        if _repeat(measure.rightBarline, "end"):
            times = played.get(i, 1)
            if times < (measure.rightBarline.times or 2):
                played[i], turn, i, jumped = times + 1, times + 1, start, True
                continue
            played.pop(i, None)
            if i not in endings:
                turn, start = 1, i + 1
        i += 1
    return order, i >= len(measures)


def _repeat(line: bar.Barline | None, direction: str) -> bool:
    return isinstance(line, bar.Repeat) and line.direction == direction


def strain_starts(part: stream.Part) -> frozenset[int]:
    """Measure numbers that begin a strain: after a repeat or double bar line,
    unless it is a second ending (which closes its strain's repeat)."""
    endings = {m.number for b in part.recurse().getElementsByClass(spanner.RepeatBracket)
               for m in b.getSpannedElements()}
    starts = set()
    for before, measure in pairwise(part.getElementsByClass(stream.Measure)):
        if (_divides(before.rightBarline) or _divides(measure.leftBarline)) and measure.number not in endings:
            starts.add(measure.number)
    return frozenset(starts)


def _divides(line: bar.Barline | None) -> bool:
    return line is not None and (isinstance(line, bar.Repeat) or line.type in (
        "double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy"))


def beat_grid(bars: list[Bar], beat: float) -> tuple[list[float], list[float]]:
    beats, downbeats = [], []
    for b in bars:
        if b.pickup:  # no downbeat; its beats lead to the next bar line
            t = b.end - beat
            while t > b.start - 1e-6:
                beats.append(t)
                t -= beat
        else:
            downbeats.append(b.start)
            t = b.start
            while t < b.end - 1e-6:
                beats.append(t)
                t += beat
    return sorted(beats), downbeats


def flatten(part: stream.Part, timeline: Timeline) -> Voice:
    """The part's notes in play order with ties merged, where its phrases end,
    and its chord symbols. music21's stripTies is quadratic on quartet
    movements, so ties are merged here in one pass."""
    measures = list(part.getElementsByClass(stream.Measure))
    pieces = [(timeline.starts[k], measures[i]) for k, i in enumerate(timeline.order) if i < len(measures)]
    voice = Voice()
    tied: dict[int, int] = {}  # pitch -> index of the event a tie continues
    for offset, container in pieces or [(0.0, part)]:
        for element in container.flatten().notesAndRests:
            onset, length = offset + float(element.offset), float(element.quarterLength)
            if onset >= timeline.end:
                break
            if isinstance(element, harmony.ChordSymbol):
                if element.root() is not None:
                    voice.symbols.append(ChordSymbol(onset, element.root().pitchClass, element.chordKind or "major"))
                continue
            if length <= 0:  # grace notes and zero-length oddities
                continue
            if PHRASE_MARK in element.groups or any(isinstance(x, expressions.Fermata) for x in element.expressions):
                voice.marks.append(min(onset + length, timeline.end))
            for n in element.notes if element.isChord else [element]:
                if isinstance(n, note.Note):  # not a rest or unpitched percussion
                    _add(voice.events, tied, n, element, onset, length)
    voice.events = [Event(e.onset, min(e.duration, timeline.end - e.onset), e.pitch) for e in voice.events]
    return voice


def _add(events: list[Event], tied: dict[int, int], n: note.Note, element, onset: float, length: float) -> None:
    pitch, tie = round(n.pitch.ps), (n.tie or element.tie)
    kind = tie.type if tie else None
    first = events[tied[pitch]] if pitch in tied else None
    if kind in ("stop", "continue") and first and abs(first.onset + first.duration - onset) < 1e-3:
        events[tied[pitch]] = Event(first.onset, onset + length - first.onset, pitch)
        if kind == "stop":
            del tied[pitch]
        return  # (a tie broken by a jump back to a repeat starts a new note)
    events.append(Event(onset, length, pitch))
    if kind == "start":
        tied[pitch] = len(events) - 1


def mark_abc_lines(part: stream.Part, tune_text: str) -> None:
    """Tag the last note or rest of each ABC music line: Essen transcriptions
    put one phrase per line. Skipped when our count of notes per line does
    not match music21's, so a tag is never misplaced."""
    counts = []
    for line in tune_text.splitlines():
        if not line.strip() or line.startswith("%") or re.match(r"^[A-Za-z]:", line):
            continue
        handler = abcFormat.ABCHandler()
        handler.tokenize(line)
        grace, count = False, 0
        for token in handler.tokens:
            if isinstance(token, (abcFormat.ABCGraceStart, abcFormat.ABCGraceStop)):
                grace = isinstance(token, abcFormat.ABCGraceStart)
            elif isinstance(token, abcFormat.ABCNote) and not grace:
                count += 1
        if count:
            counts.append(count)
    elements = [e for e in part.recurse().notesAndRests
                if not e.duration.isGrace and not isinstance(e, harmony.ChordSymbol)]
    if len(counts) < 2 or sum(counts) != len(elements):
        return
    index = 0
    for count in counts:
        index += count
        elements[index - 1].groups.append(PHRASE_MARK)
