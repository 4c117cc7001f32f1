"""What the synthesizer plays: timed notes and drum hits. The song composer,
the score importer and the labels all meet here."""
from __future__ import annotations

from dataclasses import dataclass, field

# Pitched timbres the synthesizer knows, and its drum kit.
TIMBRES = ("plucked", "keys", "organ", "pad", "bass", "bell")
DRUM_KINDS = ("kick", "snare", "hat", "open_hat")
SAMPLE_RATE = 24000


@dataclass(frozen=True)
class Note:
    onset_s: float
    duration_s: float
    pitch: int  # MIDI note number
    velocity: float  # 0..1
    timbre: str  # one of TIMBRES
    part: str = ""  # role in the arrangement: lead, bass, chords, pad...


@dataclass(frozen=True)
class DrumHit:
    onset_s: float
    kind: str  # one of DRUM_KINDS
    velocity: float  # 0..1


@dataclass
class Performance:
    duration_s: float
    notes: list[Note] = field(default_factory=list)
    drums: list[DrumHit] = field(default_factory=list)
    # Mix gain per part (default 1.0); the synthesizer normalises the sum.
    gains: dict[str, float] = field(default_factory=dict)
