"""Speed as the services themselves report it: per-level seconds per call
(a chunk, for acoustic and temporal) from each level's Prometheus histogram,
read before and after a run so that only the run's own calls count; and the
scheduler's per-song figures (real-time factor, time to first audio)."""
from __future__ import annotations

import urllib.request
from dataclasses import dataclass

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

LATENCY = "hiermusic_level_request_seconds"


@dataclass
class LevelSpeed:
    level: str
    method: str
    model_version: str
    calls: int
    mean_s: float
    p95_s: float | None  # upper edge of the histogram bucket holding the 95th percentile


Histograms = dict[tuple[str, str, str], dict[str, object]]


def scrape(endpoint: str, timeout_s: float = 10.0) -> dict[str, list]:
    """Prometheus samples by family name from HOST:PORT or a full URL."""
    url = endpoint if endpoint.startswith("http") else f"http://{endpoint}/metrics"
    text = urllib.request.urlopen(url, timeout=timeout_s).read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def latency_histograms(endpoints: dict[str, str]) -> Histograms:
    """(level, method, version) -> count, sum and cumulative buckets, over every endpoint."""
    out: Histograms = {}
    for endpoint in endpoints.values():
        for sample in scrape(endpoint).get(LATENCY, []):
            labels = sample.labels
            key = (labels["level"], labels["method"], labels["version"])
            entry = out.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
            if sample.name.endswith("_count"):
                entry["count"] += sample.value
            elif sample.name.endswith("_sum"):
                entry["sum"] += sample.value
            elif sample.name.endswith("_bucket"):
                bound = float(labels["le"])
                entry["buckets"][bound] = entry["buckets"].get(bound, 0.0) + sample.value
    return out


def level_speed(before: Histograms, after: Histograms) -> list[LevelSpeed]:
    """The calls made between two scrapes, per level, method and model version."""
    speeds = []
    for key, now in sorted(after.items()):
        then = before.get(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
        calls = round(now["count"] - then["count"])
        if calls <= 0:
            continue
        buckets = {b: c - then["buckets"].get(b, 0.0) for b, c in now["buckets"].items()}
        level, method, version = key
        speeds.append(LevelSpeed(level, method, version, calls, (now["sum"] - then["sum"]) / calls,
                                 _quantile_bound(buckets, 0.95)))
    return speeds


def _quantile_bound(buckets: dict[float, float], q: float) -> float | None:
    total = buckets.get(float("inf"), 0.0)
    for bound in sorted(buckets):
        if total and buckets[bound] >= q * total:
            return None if bound == float("inf") else bound
    return None


def song_speed(timings: list[dict]) -> dict[str, float | None]:
    """Mean and worst of the scheduler's per-song figures (the `timings` of song.plan.json)."""
    if not timings:
        return {"songs": 0}
    rtf = np.array([t["real_time_factor"] for t in timings])
    first = np.array([t["first_audio_s"] for t in timings])
    return {
        "songs": len(timings),
        "real_time_factor_mean": round(float(rtf.mean()), 3),
        "real_time_factor_max": round(float(rtf.max()), 3),
        "first_audio_s_mean": round(float(first.mean()), 3),
        "first_audio_s_max": round(float(first.max()), 3),
        "wall_s_total": round(float(sum(t["wall_s"] for t in timings)), 2),
    }
