"""Speed of the mesh on this machine: starts the three level services and a
local Ray once, then composes pieces of the given lengths and prints wall
time, time to first audio, real-time factor and seconds per level.

    .venv/bin/python bench/mesh_speed.py --durations 12 60 --device cpu
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import ray

from orchestrator.config import SchedulerConfig
from orchestrator.mesh import LevelLaunch, LocalMesh
from orchestrator.ray_runtime import ray_session, start_scheduler
from protos.hiermusic.v1 import composer_pb2

PROMPT = "an upbeat pop song with a catchy chorus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durations", type=float, nargs="+", default=[12.0, 60.0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="hm-bench-"))
    launches = [LevelLaunch(level, device=args.device, threads=args.threads)
                for level in ("semantic", "acoustic", "temporal")]
    started = time.perf_counter()
    with LocalMesh(run_dir, launches) as mesh, ray_session(None):
        scheduler = start_scheduler(mesh.wait_ready(), SchedulerConfig(), str(run_dir / "scheduler.log"))
        ray.get(scheduler.describe.remote())
        print(f"mesh up in {time.perf_counter() - started:.1f} s ({os.cpu_count()} cores, "
              f"{args.threads} torch thread(s) per level, device {args.device})")
        print(f"{'audio s':>8} {'wall s':>7} {'first audio s':>14} {'RTF':>5}  per-level total s (calls)")
        for duration in args.durations:
            request = composer_pb2.ComposeRequest(prompt=PROMPT, duration_s=duration, seed=1)
            summary = None
            for ref in scheduler.compose.options(num_returns="streaming").remote(request.SerializeToString()):
                event = composer_pb2.ComposeEvent.FromString(ray.get(ref))
                if event.WhichOneof("event") == "summary":
                    summary = event.summary
            levels = ", ".join(f"{t.level} {t.total_s:.2f} ({t.calls})" for t in summary.timings)
            print(f"{duration:8.1f} {summary.wall_s:7.2f} {summary.first_audio_s:14.2f} "
                  f"{summary.real_time_factor:5.2f}  {levels}")


if __name__ == "__main__":
    main()
