"""Per-song labels, stored as JSON next to the tokens: what each level learns
structure, harmony and rhythm from."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class SectionLabel:
    type: str  # intro, verse, pre-chorus, chorus, bridge, solo, outro (or "phrase" for scores)
    start_s: float
    end_s: float
    bars: int
    energy: float  # 0..1
    repeat_of: int = -1  # index of the earlier section this one brings back, -1 if none


@dataclass
class ChordLabel:
    time_s: float  # the beat it starts on
    chord: str  # e.g. "C:maj", "A:min7", "N" for none


@dataclass
class SongLabels:
    song_id: str
    source: str  # "synthetic" | "score" | "user"
    caption: str
    duration_s: float
    sections: list[SectionLabel] = field(default_factory=list)
    tempo_bpm: float | None = None
    key: str | None = None  # pitch name, e.g. "D" or "Bb"
    mode: str | None = None  # major | minor | dorian | mixolydian
    beats: list[float] = field(default_factory=list)
    downbeats: list[float] = field(default_factory=list)
    chords: list[ChordLabel] = field(default_factory=list)
    instruments: list[str] = field(default_factory=list)
    drums: bool = False
    style: str | None = None
    mood: str | None = None
    rule_breaks: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)  # e.g. composer, collection, source file

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, data: dict) -> "SongLabels":
        data = dict(data)
        data["sections"] = [SectionLabel(**s) for s in data.get("sections", [])]
        data["chords"] = [ChordLabel(**c) for c in data.get("chords", [])]
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "SongLabels":
        return cls.from_dict(json.loads(Path(path).read_text()))
