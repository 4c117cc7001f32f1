"""Fixed-seed audio: `hiermusic generate` with the bundled models gives, for
three prompts and seeds, the samples recorded in fixed_seed/ (16-bit, as
generate writes them), beside its plan and picture, and leaves no process
behind. A change that should not change the music must pass
this; one that should (new weights, a new sampler) records again with
`python -m tests.integration.test_fixed_seed_audio` and says so in its commit.

The first case runs `generate` as a user does, starting its own mesh; the
others ask the session's mesh (`generate --mesh`), whose levels run with the
threads generate gives them (mesh.local_threads), so its samples are
generate's: a mesh start is half a minute of the test run's two cores.

Recorded 2026-12-08 with the bundle of issue 28 (planner, acoustic and
temporal models trained again) on the project's 2-core CPU. The levels
started here take their thread counts from the machine's cores, and float
sums can differ with them: the recording holds for 2-core machines like CI."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.mesh_helpers import alive, run_cli

RECORDED = Path(__file__).with_name("fixed_seed")
TOLERANCE = 1e-4  # max abs sample difference, on a -1..1 scale


@dataclass(frozen=True)
class Case:
    name: str
    prompt: str
    duration_s: float
    seed: int


CASES = (
    Case("pop", "an upbeat pop song with a big chorus", 10, 3),
    Case("piano", "a calm solo piano piece in D minor, slow, no drums", 8, 1),
    Case("rock", "a driving rock groove at 140 bpm with loud drums and a guitar solo", 12, 7),
)


def generate(case: Case, out: Path, logs: Path | None = None, mesh: str = "") -> np.ndarray:
    """`logs`: check what an embedded mesh leaves; `mesh`: a running Composer's address instead."""
    args = ["generate", case.prompt, "--duration", case.duration_s, "--seed", case.seed, "--device", "cpu", "--out", out]
    result = run_cli(args + (["--log-dir", logs] if logs else []) + (["--mesh", mesh] if mesh else []), timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and audio.ndim == 1
    if logs:
        check_what_generate_leaves(case, out, logs, result.stderr)
    return audio


def check_what_generate_leaves(case: Case, out: Path, logs: Path, stderr: str) -> None:
    """Beside the WAV: a plan whose sections tile the piece, every level's
    model, a picture; and none of the service processes it started."""
    plan = json.loads(out.with_suffix(".plan.json").read_text())
    sections = plan["sections"]
    assert sections and sections[0]["start_s"] == 0.0
    assert abs(sections[-1]["end_s"] - case.duration_s) < 1e-3
    assert all(a["end_s"] == b["start_s"] for a, b in zip(sections, sections[1:]))
    assert plan["tempo_bpm"] > 0
    for level in ("semantic", "acoustic", "temporal"):
        assert plan["models"][level]["version"], level
    assert plan["untrained_levels"] == [] and "UNTRAINED" not in stderr
    assert out.with_suffix(".png").stat().st_size > 0
    started = json.loads((logs / "mesh.json").read_text())
    assert not [level for level, ready in started.items() if alive(ready["pid"])]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_generate_gives_the_recorded_samples(tmp_path, case, mesh):
    if case == CASES[0]:
        audio = generate(case, tmp_path / f"{case.name}.wav", tmp_path / "logs")
    else:
        audio = generate(case, tmp_path / f"{case.name}.wav", mesh=mesh[1].address)
    recorded, sr = sf.read(RECORDED / f"{case.name}.flac", dtype="float32")
    assert sr == 24000
    assert audio.shape == recorded.shape, f"{case.name}: {audio.shape} samples, recorded {recorded.shape}"
    worst = float(np.abs(audio - recorded).max())
    assert worst <= TOLERANCE, f"{case.name}: samples differ from the recording by up to {worst:.2e}"


def record() -> None:
    """Writes fixed_seed/*.flac from what generate makes now."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            audio = generate(case, Path(tmp) / f"{case.name}.wav")
            sf.write(RECORDED / f"{case.name}.flac", audio, 24000, subtype="PCM_16")
            print(f"recorded {case.name}: {len(audio)} samples", file=sys.stderr)


if __name__ == "__main__":
    record()
