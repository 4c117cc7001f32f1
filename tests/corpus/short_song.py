"""A two-section song's labels, whole enough to plan, for tests that change one field."""
from __future__ import annotations

from hiermusic.corpus.labels import SectionLabel, SongLabels


def short_song(song_id: str) -> SongLabels:
    return SongLabels(
        song_id=song_id, source="synthetic", caption="a short test song", duration_s=2.08,
        sections=[SectionLabel("verse", 0.0, 1.04, 2, 0.25), SectionLabel("chorus", 1.04, 2.08, 2, 0.75)],
        tempo_bpm=120.0, key="C", mode="major",
    )
