"""Whether a song's labels make a whole plan, and the labels with what a plan
always has filled in where they lack it (scores and user audio lack some):
the planner's own choices stand in, so every song of the corpus can train
every level."""
from __future__ import annotations

from dataclasses import replace

from hiermusic.corpus.labels import SectionLabel, SongLabels
from hiermusic.services.common.music import MODES, SECTION_TYPES, key_index

DEFAULT_TEMPO_BPM = 120.0
DEFAULT_KEY, DEFAULT_MODE, DEFAULT_TYPE, DEFAULT_ENERGY = "C", "major", "verse", 0.5


def unplannable(labels: SongLabels) -> str | None:
    """Why the labels do not make a whole plan, or None when they do."""
    if labels.tempo_bpm is None or labels.key is None or labels.mode not in MODES:
        return "no tempo, key or mode"
    try:
        key_index(labels.key)
    except ValueError:
        return "a key the planner cannot name"
    if not labels.sections or any(s.type not in SECTION_TYPES for s in labels.sections):
        return "no sections of the planner's types"
    if any(s.bars < 1 or not 0.0 <= s.energy <= 1.0 for s in labels.sections):
        return "sections without bars or energy"
    return None


def plannable(labels: SongLabels) -> SongLabels:
    """The labels with what a plan always has and they may lack filled in by
    defaults: one section over the song when none is labelled, section types
    outside the planner's vocabulary as verses, unknown energy (user audio)
    as mid, and a tempo, key and mode the planner can name."""
    key = labels.key or DEFAULT_KEY
    try:
        key_index(key)
    except ValueError:
        key = DEFAULT_KEY
    sections = labels.sections or [SectionLabel(DEFAULT_TYPE, 0.0, labels.duration_s, 1, DEFAULT_ENERGY)]
    sections = [replace(s, type=s.type if s.type in SECTION_TYPES else DEFAULT_TYPE, bars=max(1, s.bars),
                        energy=s.energy if 0.0 <= s.energy <= 1.0 else DEFAULT_ENERGY) for s in sections]
    return replace(labels, tempo_bpm=labels.tempo_bpm or DEFAULT_TEMPO_BPM, key=key,
                   mode=labels.mode if labels.mode in MODES else DEFAULT_MODE, sections=sections)
