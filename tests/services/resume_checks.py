"""What every trainer's test checks of resuming: a run stopped right after a
checkpoint and run again continues from that step and ends with the weights
of an uninterrupted run; a directory of another architecture is refused."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

Train = Callable[..., dict]  # train(data_dir, out_dir, config, log=...)


class Interrupt(Exception):
    pass


def checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "checkpoints").iterdir())


def run_until_checkpoint(train: Train, data_dir: Path, out: Path, config: Any, step: int) -> list[str]:
    """Runs `train` as if killed right after it wrote its checkpoint of
    `step`; the lines it logged."""
    lines: list[str] = []

    def stop(line: str) -> None:
        lines.append(line)
        if line.startswith("checkpoint") and f"step-{step:07d}" in line:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(data_dir, out, config, log=stop)
    return lines


def resume_run(train: Train, data_dir: Path, out: Path, config: Any, at_step: int) -> tuple[dict, list[str]]:
    """Runs `train` again into `out`: it says it resumes at `at_step`, steps
    on from there only, and finishes. Its result and the lines it logged."""
    lines: list[str] = []
    result = train(data_dir, out, config, log=lines.append)
    assert any("resuming" in line and re.search(rf"at step {at_step}\b", line) for line in lines), lines
    redone = [line for line in lines if (m := re.match(r"step (\d+)/", line)) and int(m[1]) <= at_step]
    assert not redone, redone
    assert result["steps"] == config.steps
    return result, lines


def assert_matches_uninterrupted(train: Train, data_dir: Path, resumed: dict, straight_dir: Path, config: Any) -> None:
    """Batches depend on (seed, step) only, so the resumed run's weights are
    those of a run that was never stopped."""
    straight = train(data_dir, straight_dir, config, log=lambda _: None)
    assert straight["steps"] == config.steps
    ours, theirs = load_file(resumed["checkpoint"]), load_file(straight["checkpoint"])
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-6, rtol=1e-5, msg=name)


def assert_refuses_another_architecture(train: Train, data_dir: Path, out: Path, config: Any, other: Any) -> None:
    """A run into a directory whose checkpoints hold another architecture, or
    were trained at another learning rate, is refused."""
    train(data_dir, out, config, log=lambda _: None)
    with pytest.raises(ValueError, match="different architecture"):
        train(data_dir, out, other, log=lambda _: None)
    with pytest.raises(ValueError, match=r"other settings \(lr "):
        train(data_dir, out, replace(config, lr=config.lr * 2), log=lambda _: None)
