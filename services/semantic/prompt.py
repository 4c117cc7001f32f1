"""Attributes a prompt states explicitly (tempo, key, mode, drums or none).
What the prompt says is honoured exactly; the planner only predicts what it
leaves open."""
from __future__ import annotations

import re
from dataclasses import dataclass

from hiermusic.services.common.music import NOTE_PATTERN, TEMPO_RANGE, spell_key

_MODE_WORDS = {"major": "major", "maj": "major", "minor": "minor", "min": "minor",
               "dorian": "dorian", "mixolydian": "mixolydian"}

_MODE = r"(?P<mode>major|minor|maj|min|dorian|mixolydian)"
_KEY_MODE = re.compile(rf"\b{NOTE_PATTERN}\s*{_MODE}\b", re.IGNORECASE)
_KEY_OF = re.compile(rf"\bkey(?:\s+of|:)?\s+{NOTE_PATTERN}(?![\w#♯♭])", re.IGNORECASE)
_MODE_ONLY = re.compile(rf"\b{_MODE}\s+(?:key|scale|tonality|mode)\b", re.IGNORECASE)
# Drums asked away ("no drums", "without percussion", "drumless", "no beat")
# and asked for (a drum, percussion, a kick, hats, a beat or groove word).
# "150 beats per minute" is a tempo, not a beat asked for.
_PERCUSSION = r"(?:drums?|drum\s*kit|percussion|beats?(?!\s+per\s+minute)|kick|hats|hi-?hats)"
_NO_DRUMS = re.compile(rf"\b(?:no|without|zero|minus)\s+(?:\w+\s+){{0,2}}?{_PERCUSSION}\b|\bdrumless\b|"
                       rf"\bbeatless\b", re.IGNORECASE)
_DRUMS = re.compile(rf"\b{_PERCUSSION}\b|\bdrum\s+and\s+bass\b|\bfour on the floor\b", re.IGNORECASE)
_NUMBER = r"(?P<bpm>\d+(?:\.\d+)?)"
_TEMPO = (
    re.compile(rf"\b{_NUMBER}\s*(?:bpm|beats per minute)\b", re.IGNORECASE),
    re.compile(rf"\btempo(?:\s+of|:)?\s*{_NUMBER}\b", re.IGNORECASE),
)


@dataclass(frozen=True)
class PromptAttributes:
    tempo_bpm: float | None = None
    key: str | None = None  # as the prompt spells it, e.g. "Bb", "F#"
    mode: str | None = None  # one of MODES
    drums: bool | None = None  # False: the prompt asks for none


def parse_prompt(text: str) -> PromptAttributes:
    """Tempo, key and mode stated in `text`; the first mention of each wins.
    A lowercase lone "a" is read as the article ("in a minor key" sets only
    the mode), so A is recognised when written in capitals."""
    key, mode = _parse_key_mode(text)
    return PromptAttributes(tempo_bpm=_parse_tempo(text), key=key, mode=mode, drums=_parse_drums(text))


def _parse_drums(text: str) -> bool | None:
    """False when the prompt asks for no drums (which wins over any drum word
    it also has, as in "no drums, just a beat-less pad"), True when it names
    drums, percussion or a beat, None when it says nothing of them."""
    if _NO_DRUMS.search(text):
        return False
    return True if _DRUMS.search(text) else None


def _parse_tempo(text: str) -> float | None:
    hits = [m for pattern in _TEMPO for m in pattern.finditer(text)]
    if not hits:
        return None
    bpm = float(min(hits, key=lambda m: m.start()).group("bpm"))
    low, high = TEMPO_RANGE
    if not low <= bpm <= high:
        raise ValueError(f"tempo {bpm:g} bpm in the prompt is outside {low:g}..{high:g} bpm")
    return bpm


def _parse_key_mode(text: str) -> tuple[str | None, str | None]:
    for match in _KEY_MODE.finditer(text):
        if _is_article(match):
            continue
        return _spell(match), _MODE_WORDS[match.group("mode").lower()]
    key = next((_spell(m) for m in _KEY_OF.finditer(text) if not _is_article(m)), None)
    mode_match = _MODE_ONLY.search(text)
    mode = _MODE_WORDS[mode_match.group("mode").lower()] if mode_match else None
    return key, mode


def _is_article(match: re.Match[str]) -> bool:
    return match.group("note") == "a" and not match.group("acc")


def _spell(match: re.Match[str]) -> str:
    return spell_key(match.group("note"), match.group("acc"))
