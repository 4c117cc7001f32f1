"""Speed of the mesh on this machine, the figures `hiermusic eval` reports,
on their own: starts the three level services and a local Ray once, composes
pieces of the given lengths, and prints wall time, time to first audio and
real-time factor per piece (from the scheduler), then seconds per call of each
level (from the services' Prometheus histograms), and whether each piece met
issue 6's bar: audio at least twice as fast as real time (60 s in at most
30 s of wall time) and first audio within 3 s of the request.

    .venv/bin/python bench/mesh_speed.py --durations 12 60 --device cpu
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from hiermusic.evaluation.speed import latency_histograms, level_speed
from hiermusic.orchestrator.compose_session import EmbeddedComposer
from hiermusic.orchestrator.config import SchedulerConfig
from hiermusic.orchestrator.mesh import LevelLaunch
from hiermusic.v1 import composer_pb2

PROMPT = "an upbeat pop song with a catchy chorus"
TARGET_SPEED = 2.0  # seconds of audio per second of wall time
TARGET_FIRST_AUDIO_S = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durations", type=float, nargs="+", default=[12.0, 60.0])
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    args = parser.parse_args()

    launches = [LevelLaunch(level, device=args.device, threads=args.threads)
                for level in ("semantic", "acoustic", "temporal")]
    started = time.perf_counter()
    with EmbeddedComposer(Path(tempfile.mkdtemp(prefix="hm-bench-")), launches, SchedulerConfig()) as composer:
        print(f"mesh up in {time.perf_counter() - started:.1f} s ({os.cpu_count()} cores, "
              f"{args.threads} torch thread(s) per level, device {args.device})")
        for level, info in composer.infos.items():
            print(f"  {level:9s} {info.model_version} ({'trained' if info.trained else 'UNTRAINED'})")
        before = latency_histograms(composer.level_metrics())
        print(f"{'audio s':>8} {'wall s':>7} {'first audio s':>14} {'RTF':>5}  target  per-level total s (calls)")
        for duration in args.durations:
            events: list[composer_pb2.ComposeEvent] = []
            composer.compose(composer_pb2.ComposeRequest(prompt=args.prompt, duration_s=duration, seed=1), events.append)
            s = events[-1].summary
            levels = ", ".join(f"{t.level} {t.total_s:.2f} ({t.calls})" for t in s.timings)
            met = s.wall_s * TARGET_SPEED <= duration and s.first_audio_s <= TARGET_FIRST_AUDIO_S
            print(f"{duration:8.1f} {s.wall_s:7.2f} {s.first_audio_s:14.2f} {s.real_time_factor:5.2f}  "
                  f"{'met   ' if met else 'MISSED'}  {levels}")
        print(f"target: wall <= audio / {TARGET_SPEED:g} and first audio <= {TARGET_FIRST_AUDIO_S:g} s")
        print("per level, from the services' Prometheus metrics (all pieces above):")
        for speed in level_speed(before, latency_histograms(composer.level_metrics())):
            p95 = f"{speed.p95_s:g}" if speed.p95_s is not None else "-"
            print(f"  {speed.level:9s} {speed.method:15s} {speed.calls:4d} calls  mean {speed.mean_s:.3f} s  "
                  f"p95 <= {p95} s")


if __name__ == "__main__":
    main()
