from __future__ import annotations

import pytest

from hiermusic.services.semantic.prompt import PromptAttributes, parse_prompt


@pytest.mark.parametrize(
    ("prompt", "tempo"),
    [
        ("driving techno, 120 bpm", 120.0),
        ("a slow soul groove at 96 BPM", 96.0),
        ("punk rock, tempo 140, loud guitars", 140.0),
        ("tempo: 128.5 house", 128.5),
        ("a waltz at 90 beats per minute", 90.0),
        ("140bpm drum and bass", 140.0),
        ("calm piano in D minor", None),
    ],
)
def test_tempo(prompt: str, tempo: float | None) -> None:
    assert parse_prompt(prompt).tempo_bpm == tempo


@pytest.mark.parametrize(
    ("prompt", "key", "mode"),
    [
        ("a sad piano ballad in D minor", "D", "minor"),
        ("bright pop in F# major", "F#", "major"),
        ("modal jazz in A dorian", "A", "dorian"),
        ("Bb mixolydian funk jam", "Bb", "mixolydian"),
        ("folk tune in e minor", "E", "minor"),
        ("nocturne in C sharp minor", "C#", "minor"),
        ("anthem in E♭ major", "Eb", "major"),
        ("blues in the key of G", "G", None),
        ("a sad song in a minor key", None, "minor"),
        ("a major label pop sound", None, None),
        ("ambient drone with soft pads", None, None),
    ],
)
def test_key_and_mode(prompt: str, key: str | None, mode: str | None) -> None:
    attrs = parse_prompt(prompt)
    assert (attrs.key, attrs.mode) == (key, mode)


def test_everything_at_once_and_first_mention_wins() -> None:
    attrs = parse_prompt("lofi hip hop in G minor at 84 bpm, later 100 bpm in C major")
    assert attrs == PromptAttributes(tempo_bpm=84.0, key="G", mode="minor")


@pytest.mark.parametrize(
    ("prompt", "drums"),
    [
        ("a calm piano piece", None),
        ("an upbeat pop song", None),  # "upbeat" is not a beat
        ("energetic rock at 150 beats per minute", None),  # a tempo, not a beat
        ("a steady beat at 90 beats per minute", True),
        ("rock with big drums", True),
        ("light percussion and a guitar", True),
        ("minimal techno, kick and hats only", True),
        ("fast drum and bass", True),
        ("sleepy ambient, no drums", False),
        ("a string quartet, no percussion at all", False),
        ("without any drums, please", False),
        ("a drumless pad drone", False),
        ("shimmering bells and no beat", False),
        ("no drums, just a soft beat-like pulse of bass", False),  # asking for none wins
    ],
)
def test_drums_asked_for_or_away(prompt: str, drums: bool | None) -> None:
    assert parse_prompt(prompt).drums is drums


def test_unplayable_tempo_is_refused() -> None:
    with pytest.raises(ValueError, match="1000 bpm"):
        parse_prompt("speedcore at 1000 bpm")
