"""Per-level speed read from a real Prometheus endpoint, before and after."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, start_http_server

from hiermusic.evaluation.speed import latency_histograms, level_speed, song_speed
from tests.integration.mesh_helpers import free_port


@pytest.fixture()
def endpoint():
    registry = CollectorRegistry()
    histogram = Histogram("hiermusic_level_request_seconds", "x", ["level", "method", "model", "version"],
                          buckets=(0.5, 1, 2, 4), registry=registry)
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield histogram, f"127.0.0.1:{port}"
    server.shutdown()


def test_only_calls_between_the_scrapes_count(endpoint):
    histogram, address = endpoint
    acoustic = histogram.labels("acoustic", "GenerateCoarse", "coarse", "v1")
    acoustic.observe(3.0)  # before the run: must not count
    before = latency_histograms({"acoustic": address})
    for seconds in (0.4, 0.8, 0.9, 1.5):
        acoustic.observe(seconds)
    histogram.labels("temporal", "Render", "fine", "v2").observe(0.2)
    speeds = {s.level: s for s in level_speed(before, latency_histograms({"acoustic": address}))}
    assert speeds["acoustic"].calls == 4
    assert speeds["acoustic"].mean_s == pytest.approx((0.4 + 0.8 + 0.9 + 1.5) / 4)
    assert speeds["acoustic"].p95_s == 2  # the 4th of 4 calls lies in the (1, 2] bucket
    assert speeds["temporal"].calls == 1 and speeds["temporal"].model_version == "v2"


def test_song_speed_means_and_worst():
    timings = [{"real_time_factor": 0.5, "first_audio_s": 2.0, "wall_s": 10.0},
               {"real_time_factor": 0.3, "first_audio_s": 3.0, "wall_s": 6.0}]
    speed = song_speed(timings)
    assert speed["real_time_factor_mean"] == 0.4 and speed["real_time_factor_max"] == 0.5
    assert speed["first_audio_s_max"] == 3.0 and speed["wall_s_total"] == 16.0
    assert song_speed([]) == {"songs": 0}
