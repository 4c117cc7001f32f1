"""What every level's trainer shares: resumable checkpoint directories
(weights + card + optimizer state, all safetensors/JSON, never pickle), the
learning-rate schedule, and the corpus id a model card names.

A checkpoint directory `out/checkpoints/step-NNNNNNN/` is written whole into
a temporary directory and then renamed, so an interrupted save never looks
like a checkpoint and a rerun resumes from the newest complete one."""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from services.common.checkpoint import ModelCard, load_checkpoint, save_checkpoint

CHECKPOINTS = "checkpoints"


@dataclass
class Schedule:
    """Linear warmup, then cosine down to `floor` of the peak."""

    lr: float
    steps: int
    warmup: int
    floor: float = 0.1

    def at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
        return self.lr * (self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        for group in optimizer.param_groups:
            group["lr"] = self.at(step)


def corpus_id(data_dir: Path) -> str:
    """Names the corpus a model was trained on: its build settings' digest and
    its semantic tokenizer."""
    build = data_dir / "build.json"
    digest = hashlib.sha256(build.read_bytes()).hexdigest()[:12] if build.is_file() else "unknown"
    tokenizer = data_dir / "semantic_tokenizer.json"
    tokenizer_id = json.loads(tokenizer.read_text())["tokenizer_id"] if tokenizer.is_file() else "none"
    return f"{data_dir} (build {digest}, tokenizer {tokenizer_id})"


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Per-parameter optimizer state flattened for safetensors: 'index/name'."""
    return {f"{i}/{name}": torch.as_tensor(value).detach().cpu().contiguous()
            for i, state in optimizer.state_dict()["state"].items() for name, value in state.items()}


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split("/")
        state.setdefault(int(index), {})[name] = value
    # Hyperparameters come from the config and the schedule, not the file.
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})


def step_dirs(out_dir: Path) -> list[Path]:
    return sorted((Path(out_dir) / CHECKPOINTS).glob("step-[0-9]*[0-9]"))


def save_step(out_dir: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
              card: ModelCard, keep: int) -> Path:
    """Writes `name.safetensors` (+ card) per module and `name.optimizer.safetensors`
    per optimizer into one step directory; keeps the newest `keep` of them."""
    final = Path(out_dir) / CHECKPOINTS / f"step-{card.steps:07d}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for name, module in modules.items():
        save_checkpoint(module, card, tmp / f"{name}.safetensors")
    for name, optimizer in optimizers.items():
        save_file(optimizer_tensors(optimizer), str(tmp / f"{name}.optimizer.safetensors"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in step_dirs(out_dir)[:-keep]:
        shutil.rmtree(old)
    return final


def resume(out_dir: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
           config: dict) -> ModelCard | None:
    """Loads the newest step directory into `modules` and `optimizers` and
    returns its card, or None when there is none. `config` is the model
    config as the card stores it: a directory made with another architecture
    is refused rather than half-loaded."""
    dirs = step_dirs(out_dir)
    if not dirs:
        return None
    card = None
    for name, module in modules.items():
        state, card, _ = load_checkpoint(dirs[-1] / f"{name}.safetensors")
        saved = {k: v for k, v in card.config.items() if k != "training"}
        if saved != json.loads(json.dumps(config)):
            raise ValueError(f"{dirs[-1]} holds a different architecture; use another out_dir")
        module.load_state_dict(state)
    for name, optimizer in optimizers.items():
        load_optimizer(optimizer, load_file(str(dirs[-1] / f"{name}.optimizer.safetensors")))
    return card
