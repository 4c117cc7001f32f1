"""The chunk levels' trainers as `hiermusic train` runs them: handed the
semantic level's plans by the command line (cli/train_command.py), so a test
calls them as every other trainer, train(data_dir, out_dir, config, log=...)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hiermusic.cli.train_command import semantic_plans


def as_the_cli_runs(train: Callable[..., dict]) -> Callable[..., dict]:
    def run(data_dir: Path, out_dir: Path, config: Any, log: Callable[[str], None] = print) -> dict:
        return train(data_dir, out_dir, config, semantic_plans(config, Path(data_dir), "cpu"), log=log)

    return run
