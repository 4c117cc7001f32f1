"""Turning a stream of ComposeEvents into files: the WAV as it is made, the
plan JSON (the plan file, orchestrator/plan_file.py, with what the render
recorded), a picture, and progress on the terminal."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import numpy as np
import soundfile as sf

from hiermusic.v1 import composer_pb2, levels_pb2, tensor_pb2
from hiermusic.orchestrator.plan_file import write_plan_file
from hiermusic.services.common.tensors import decode


class SongWriter:
    def __init__(self, out: Path, prompt: str, seed: int, duration_s: float, progress: TextIO = sys.stderr) -> None:
        """`prompt` and `duration_s` as asked; the record holds the plan's."""
        self.out = Path(out)
        self.plan_path = self.out.with_suffix(".plan.json")
        self.prompt, self.seed, self.duration_s = prompt, seed, duration_s
        self.progress = progress
        self.plan: levels_pb2.PiecePlan | None = None
        self.summary: composer_pb2.ComposeSummary | None = None
        self.samples = 0
        self._wav: sf.SoundFile | None = None
        self._peak = 0.0
        self.sample_rate = 0
        self.joins: list[tuple[float, float]] = []  # crossfaded overlap zones, seconds

    def handle(self, event: composer_pb2.ComposeEvent) -> None:
        kind = event.WhichOneof("event")
        if kind == "plan":
            self.plan = event.plan
            self._announce_plan()
        elif kind == "audio":
            self._write_audio(event.audio)
        elif kind == "summary":
            self.summary = event.summary

    def _announce_plan(self) -> None:
        plan = self.plan
        form = " ".join(s.type for s in plan.sections)
        print(f"plan: {plan.tempo_bpm:.0f} bpm, {plan.key} {plan.mode}; {form}", file=self.progress)

    def _write_audio(self, chunk: composer_pb2.AudioChunk) -> None:
        pcm = decode(chunk.pcm, "pcm", tensor_pb2.DTYPE_FLOAT32, [None])
        if self._wav is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._wav = sf.SoundFile(self.out, "w", samplerate=chunk.sample_rate, channels=1, subtype="PCM_16")
            self.sample_rate = chunk.sample_rate
        if chunk.overlap_s > 0:
            self.joins.append((chunk.start_s, chunk.start_s + chunk.overlap_s))
        self._peak = max(self._peak, float(np.abs(pcm).max(initial=0.0)))
        self._wav.write(np.clip(pcm, -1.0, 1.0))
        self.samples += len(pcm)
        done = self.samples / chunk.sample_rate
        bar = "#" * (20 * (chunk.chunk_index + 1) // chunk.chunk_count)
        end = "\n" if chunk.chunk_index + 1 == chunk.chunk_count or not self.progress.isatty() else "\r"
        print(
            f"chunk {chunk.chunk_index + 1}/{chunk.chunk_count} [{bar:<20}] {done:5.1f}/{self.duration_s:.1f} s",
            end=end,
            file=self.progress,
            flush=True,
        )

    def finish(self) -> dict:
        """Closes the WAV and writes the plan JSON; returns what it wrote."""
        if self._wav is not None:
            self._wav.close()
        if self.plan is None or self.summary is None:
            raise RuntimeError("the stream ended before the song was complete")
        return write_plan_file(self.plan_path, self.plan, self._render())

    def _render(self) -> dict:
        """What the render recorded, after the plan in the plan file."""
        summary = self.summary
        models = {
            m.level: {
                "plugin": m.plugin,
                "version": m.model_version,
                "checkpoint_sha256": m.checkpoint_digest,
                "trained": m.trained,
                "device": m.device,
                **({"codec_plugin": m.codec_plugin} if m.codec_plugin else {}),
            }
            for m in summary.models
        }
        return {
            "seed": self.seed,
            "requested_duration_s": self.duration_s,
            "sample_rate": self.sample_rate,
            "audio": self.out.name,
            "joins": [{"start_s": round(a, 3), "end_s": round(b, 3)} for a, b in self.joins],
            "models": models,
            "untrained_levels": [level for level, m in models.items() if not m["trained"]],
            "timings": {
                "wall_s": round(summary.wall_s, 3),
                "first_audio_s": round(summary.first_audio_s, 3),
                "real_time_factor": round(summary.real_time_factor, 3),
                "levels": {t.level: {"total_s": round(t.total_s, 3), "calls": t.calls} for t in summary.timings},
            },
            "peak": round(self._peak, 4),
            "request_id": summary.request_id,
            "trace": [
                {
                    "chunk": t.chunk_index,
                    "level": t.level,
                    "summary_in_sha256": t.summary_in_sha256,
                    "summary_out_sha256": t.summary_out_sha256,
                    "seconds": round(t.seconds, 4),
                    "model_version": t.model_version,
                    "rule_breaks": list(t.rule_breaks),  # as the level reported receiving them
                    # The thematic memory the level reported receiving: 0 frames and -1 when none.
                    "memory_frames": t.memory_frames,
                    "memory_of_section": t.memory_of_section,
                }
                for t in summary.trace
            ],
        }
