"""The music vocabulary every room speaks: section types, key and mode names,
the playable tempo range, and key names in any enharmonic spelling. The
corpus labels with it, the planner predicts it, evaluation measures against
it."""
from __future__ import annotations

import re

from hiermusic.services.common.limits import clipped

SECTION_TYPES = ("intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro")
# Canonical spellings the planner predicts; prompts may spell any enharmonic.
KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor", "dorian", "mixolydian")

# An explicit tempo must be playable: it sets every bar's length.
TEMPO_RANGE = (30.0, 300.0)

# A note name with an optional accidental, as people write it: "Bb", "B♭",
# "B flat", "b-flat", "F#", "F sharp". Groups: note, acc.
NOTE_PATTERN = r"(?P<note>[A-Ga-g])(?P<acc>#|♯|b|♭|[ -]?sharp|[ -]?flat)?"

_PITCH = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def spell_key(note: str, accidental: str | None) -> str:
    """A note and accidental as NOTE_PATTERN matches them, spelled "C", "F#" or "Bb"."""
    acc = (accidental or "").lower()
    sign = "#" if acc in ("#", "♯") or acc.endswith("sharp") else "b" if acc else ""
    return note.upper() + sign


def key_index(name: str) -> int:
    """Pitch class 0..11 of a key name in any enharmonic spelling ("Db" == "C#")."""
    match = re.fullmatch(NOTE_PATTERN, name.strip())
    if match is None:
        raise ValueError(f"unknown key {clipped(name)!r}; use a note name such as {', '.join(KEYS)}")
    spelled = spell_key(match.group("note"), match.group("acc"))
    shift = {"#": 1, "b": -1}.get(spelled[1:], 0)
    return (_PITCH[spelled[0].lower()] + shift) % 12
