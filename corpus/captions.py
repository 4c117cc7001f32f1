"""Captions written from a song spec, worded many ways (templates, synonyms,
orders, lengths) so a text model learns what the words mean rather than one
sentence shape. Tempo and key are stated only sometimes, always in forms that
services.semantic.prompt.parse_prompt reads back as the labelled values."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hiermusic.corpus.song_spec import SongSpec

MOOD_WORDS = {
    "happy": ("happy", "upbeat", "cheerful", "bright", "joyful", "sunny"),
    "sad": ("sad", "melancholic", "wistful", "somber", "mournful", "heartbroken"),
    "energetic": ("energetic", "driving", "lively", "high-energy", "punchy", "exciting"),
    "calm": ("calm", "mellow", "relaxed", "laid-back", "peaceful", "gentle"),
    "tense": ("tense", "dark", "suspenseful", "brooding", "uneasy", "ominous"),
    "dreamy": ("dreamy", "ethereal", "hazy", "floating", "airy", "otherworldly"),
}
STYLE_NOUNS = {
    "pop": ("pop song", "pop track", "pop tune"),
    "rock": ("rock song", "rock track", "rock tune"),
    "jazz": ("jazz piece", "jazz tune", "jazz number"),
    "electronic": ("electronic track", "synth track", "electronic piece"),
    "ambient": ("ambient piece", "ambient track", "ambient soundscape"),
    "folk": ("folk tune", "folk song", "acoustic folk piece"),
    "classical": ("classical piece", "classical-style piece", "chamber piece"),
}
STYLE_ADJECTIVES = {"pop": ("pop",), "rock": ("rock",), "jazz": ("jazz", "jazzy"),
                    "electronic": ("electronic", "synth"), "ambient": ("ambient",),
                    "folk": ("folk", "acoustic folk"), "classical": ("classical",)}
# Singular, to sit before "melody" or "solo"; PLURAL_ALONE timbres take an "s" when named alone.
TIMBRE_WORDS = {
    "plucked": ("plucked guitar", "plucked string", "picked guitar"),
    "keys": ("piano", "electric piano", "keyboard"),
    "organ": ("organ", "drawbar organ", "warm organ"),
    "pad": ("synth pad", "warm pad", "soft pad"),
    "bass": ("bass", "bass guitar", "deep bass"),
    "bell": ("bell", "chime", "bell tone"),
}
PLURAL_ALONE = ("pad", "bell")
DRUM_WORDS = ("drums", "a drum kit", "a steady beat", "live drums", "crisp drums")
NO_DRUM_WORDS = ("no drums", "no percussion")
# (upper bpm bound, words) for captions that describe the tempo without a number.
TEMPO_WORDS = ((76, ("slow", "unhurried", "slow-paced")), (100, ("mid-tempo", "moderately paced")),
               (130, ("up-tempo", "brisk", "quick")), (999, ("fast", "rapid", "racing")))
TEMPO_PHRASES = ("at {} bpm", "at {} BPM", "with a tempo of {}", "at a tempo of {} bpm", "at {} beats per minute")
KEY_PHRASES = ("in {}", "in the key of {}")
MODE_PHRASES = ("in a {} key", "in a {} mode")

# Odds that a caption states each optional thing (a tempo word or the mode alone
# only when the number or the key is not stated).
STATE_TEMPO, STATE_TEMPO_WORD, STATE_KEY, STATE_MODE_ONLY, STATE_INSTRUMENTS = 0.35, 0.5, 0.3, 0.15, 0.6


def _structure_options(spec: SongSpec, lead_word: str) -> list[tuple[str, ...]]:
    """Wordings for each structural fact of the song worth mentioning; rule-breaks first."""
    types = [s.type for s in spec.sections]
    facts: list[tuple[str, ...]] = []
    if "extended_intro" in spec.rule_breaks:
        facts.append(("a long intro", "an extended intro", "a slow-building intro"))
    if "abrupt_ending" in spec.rule_breaks:
        facts.append(("an abrupt ending", "a sudden ending", "an ending that cuts off abruptly"))
    if "modal_interchange" in spec.rule_breaks:
        facts.append(("a borrowed chord", "a surprising borrowed chord", "modal interchange in the harmony"))
    if "rhythmic_displacement" in spec.rule_breaks:
        facts.append(("a displaced, off-beat melody", "a melody shifted off the beat", "rhythmic displacement"))
    if "bridge" in types:
        facts.append(("a bridge", "a contrasting bridge", "a bridge before the last chorus"))
    if "solo" in types:
        facts.append((f"{_a(lead_word)} solo", "an instrumental solo", "a solo section"))
    if "pre-chorus" in types:
        facts.append(("a pre-chorus that builds into the chorus", "a build-up into the chorus"))
    if types.count("chorus") >= 3:
        facts.append(("a chorus that keeps coming back", "a recurring chorus", "a catchy, repeating chorus"))
    if "outro" in types:
        facts.append(("a quiet outro", "a fading outro", "a gentle outro"))
    return facts


@dataclass
class _Words:
    """The chosen wording of one caption; empty strings are things left unsaid."""
    mood: str
    mood2: str
    noun: str
    adjective: str
    tempo_word: str
    tempo: str
    key: str
    instruments: list[str]
    structure: list[str]


def caption(spec: SongSpec, rng: np.random.Generator) -> str:
    words = _choose_words(spec, rng)
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    text = template(words, rng)
    return text[0].upper() + text[1:]


def _choose_words(spec: SongSpec, rng: np.random.Generator) -> _Words:
    moods = rng.permutation(MOOD_WORDS[spec.mood])
    lead_word = _pick(rng, TIMBRE_WORDS[spec.instruments.lead])
    tempo = key = tempo_word = ""
    if rng.random() < STATE_TEMPO:
        tempo = _pick(rng, TEMPO_PHRASES).format(spec.tempo_bpm)
    elif rng.random() < STATE_TEMPO_WORD:
        tempo_word = _pick(rng, next(w for top, w in TEMPO_WORDS if spec.tempo_bpm < top))
    if rng.random() < STATE_KEY:
        key = _pick(rng, KEY_PHRASES).format(f"{spec.key} {spec.mode}")
    elif rng.random() < STATE_MODE_ONLY:
        key = _pick(rng, MODE_PHRASES).format(spec.mode)
    instruments = _instrument_words(spec, rng, lead_word) if rng.random() < STATE_INSTRUMENTS else []
    facts = _structure_options(spec, lead_word)
    # Rule-breaks come first in `facts` and are mentioned more often: they are what sets the song apart.
    structure = [_pick(rng, f) for i, f in enumerate(facts)
                 if rng.random() < (0.7 if i < len(spec.rule_breaks) else 0.35)]
    return _Words(str(moods[0]), str(moods[1]), _pick(rng, STYLE_NOUNS[spec.style]),
                  _pick(rng, STYLE_ADJECTIVES[spec.style]), tempo_word, tempo, key, instruments, structure)


def _instrument_words(spec: SongSpec, rng: np.random.Generator, lead_word: str) -> list[str]:
    parts = spec.instruments
    lead = _pick(rng, (f"{lead_word} melody", f"{lead_word} lead"))
    harmony_word = _pick(rng, TIMBRE_WORDS[parts.harmony])
    harmony = _alone(harmony_word, parts.harmony) if parts.harmony == "pad" else f"{harmony_word} chords"
    bass_word = _alone(_pick(rng, TIMBRE_WORDS[parts.bass]), parts.bass)
    bass = bass_word if parts.bass == "bass" else f"low {bass_word}"
    words = [lead, harmony, bass]
    if parts.drums or rng.random() < 0.5:
        words.append(_pick(rng, DRUM_WORDS if parts.drums else NO_DRUM_WORDS))
    return [str(w) for w in rng.permutation(words)]


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def _alone(word: str, timbre: str) -> str:
    return word + "s" if timbre in PLURAL_ALONE else word


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _tail(*parts: str) -> str:
    """Optional trailing phrases, each preceded by a space; empty ones dropped."""
    return "".join(" " + p for p in parts if p)


# ---- templates: each writes one sentence shape from the chosen words -------------

def _short(w: _Words, rng: np.random.Generator) -> str:
    return f"{_a(w.mood)} {w.noun}"


def _adjectives_first(w: _Words, rng: np.random.Generator) -> str:
    head = " ".join(x for x in (w.tempo_word, w.mood, w.noun) if x)
    text = _a(head) + _tail(w.key, w.tempo)
    if w.instruments:
        text += f", with {_list(w.instruments)}"
    return text + (f", featuring {_list(w.structure)}" if w.structure else "")


def _noun_then_details(w: _Words, rng: np.random.Generator) -> str:
    details = [x for x in (w.mood, w.tempo_word, w.tempo, w.key) if x]
    text = f"{w.adjective} instrumental, {', '.join(details)}"
    if w.instruments:
        text += f". Instruments: {', '.join(w.instruments)}"
    return text + (f". It has {_list(w.structure)}." if w.structure else "")


def _tag_list(w: _Words, rng: np.random.Generator) -> str:
    tempo = w.tempo.removeprefix("at ").removeprefix("with ")
    tags = [w.adjective, w.mood, w.mood2, w.tempo_word, tempo, w.key.removeprefix("in ").removeprefix("a "),
            *w.instruments, *w.structure]
    return ", ".join(str(t) for t in rng.permutation([t for t in tags if t]))


def _instruments_lead(w: _Words, rng: np.random.Generator) -> str:
    if not w.instruments:
        return _adjectives_first(w, rng)
    text = f"{_list(w.instruments)} in {_a(w.mood)} {w.noun}" + _tail(w.key, w.tempo)
    return text + (f". The song has {_list(w.structure)}." if w.structure else "")


def _this_song_feels(w: _Words, rng: np.random.Generator) -> str:
    text = f"this {w.noun} feels {w.mood} and {w.mood2}"
    if w.tempo or w.tempo_word:
        text += f", {w.tempo}" if w.tempo else f", with a {w.tempo_word} pulse"
    text += _tail(w.key)
    if w.structure:
        text += f"; it moves through {_list(w.structure)}"
    return text + (f", with {_list(w.instruments)}" if w.instruments else "")


def _structure_first(w: _Words, rng: np.random.Generator) -> str:
    if not w.structure:
        return _this_song_feels(w, rng)
    text = f"featuring {_list(w.structure)}: {_a(w.mood)} {w.adjective} piece" + _tail(w.tempo, w.key)
    return text + (f", with {_list(w.instruments)}" if w.instruments else "")


def _mood_pair(w: _Words, rng: np.random.Generator) -> str:
    text = " ".join(x for x in (w.mood, "and", w.mood2, w.tempo_word, w.noun) if x) + _tail(w.tempo, w.key)
    return text + (f" - {_list(w.instruments)}" if w.instruments else "")


TEMPLATES: tuple[Callable[[_Words, np.random.Generator], str], ...] = (
    _short, _adjectives_first, _noun_then_details, _tag_list, _instruments_lead, _this_song_feels,
    _structure_first, _mood_pair,
)
