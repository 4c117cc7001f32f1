"""The scheduler's Prometheus metrics: what a listener waits for. In a
registry of their own, served by the scheduler actor on its port: the
Composer's process imports this module too, and its /metrics must show its
own calls, not these at zero."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
_SECONDS = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

SONG_SECONDS = Histogram(
    "hiermusic_song_seconds", "End-to-end wall time of a song.", buckets=_SECONDS, registry=REGISTRY
)
FIRST_AUDIO = Histogram(
    "hiermusic_time_to_first_audio_seconds", "From request to the first audio chunk.", buckets=_SECONDS,
    registry=REGISTRY,
)
REAL_TIME_FACTOR = Histogram(
    "hiermusic_real_time_factor",
    "Wall seconds per second of audio (below 1 is faster than real time).",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 4, 8, 16),
    registry=REGISTRY,
)
SONGS_IN_FLIGHT = Gauge("hiermusic_songs_in_flight", "Songs being composed.", registry=REGISTRY)
SONGS = Counter("hiermusic_songs_total", "Songs by outcome: ok, error, cancelled.", ["outcome"], registry=REGISTRY)
LEVEL_CALL_SECONDS = Histogram(
    "hiermusic_scheduler_level_call_seconds",
    "A level call as the scheduler sees it, network and queue included.",
    ["level", "method"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
LEVEL_CALL_ERRORS = Counter(
    "hiermusic_scheduler_level_errors_total",
    "Level calls that failed a song, by level and the level's status code.",
    ["level", "code"],
    registry=REGISTRY,
)
