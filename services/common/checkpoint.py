"""Checkpoints: safetensors weights plus a JSON model card beside them
(`x.safetensors` + `x.json`). Never pickle."""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


@dataclass
class ModelCard:
    plugin: str
    level: str
    version: str
    config: dict[str, Any]
    token_space: dict[str, Any]
    trained: bool = False
    data: str = ""
    steps: int = 0
    wall_time_s: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    storage: str = "float32"  # float16: halved for the bundle; loading casts back to the module's float32
    # The level's sampling and rendering knobs (its plugin's sampling
    # dataclass); a service may override them. Empty: the plugin's defaults.
    sampling: dict[str, Any] = field(default_factory=dict)

    @property
    def model_config(self) -> dict[str, Any]:
        """The model's architecture: `config` less the `training` record a
        trainer adds beside it (services/common/training.py)."""
        return {k: v for k, v in self.config.items() if k != "training"}


def card_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_checkpoint(module: torch.nn.Module, card: ModelCard, path: Path) -> str:
    """Writes weights and card; returns the sha256 of the weights file.
    Both are written whole beside their places first; the old card goes
    before the new weights move in, so an interrupted save leaves weights
    without a card (refused on load), never new weights under an old card."""
    return _write({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, card, Path(path))


def _write(state: dict[str, torch.Tensor], card: ModelCard, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    weights_tmp, card_tmp = path.with_name(path.name + ".tmp"), card_path(path).with_name(card_path(path).name + ".tmp")
    save_file(state, str(weights_tmp))
    # A model without sampling knobs (a codec) has no such section in its card.
    written = {k: v for k, v in asdict(card).items() if k != "sampling" or v}
    card_tmp.write_text(json.dumps(written, indent=2) + "\n")
    # safetensors creates its file owner-only; a service run as another user
    # must read what training wrote, so the weights take the card's mode (the umask's)
    os.chmod(weights_tmp, stat.S_IMODE(card_tmp.stat().st_mode))
    card_path(path).unlink(missing_ok=True)
    os.replace(weights_tmp, path)
    os.replace(card_tmp, card_path(path))
    return file_digest(path)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], ModelCard, str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not card_path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} has no model card {card_path(path)}")
    card = ModelCard(**json.loads(card_path(path).read_text()))
    return load_file(str(path)), card, file_digest(path)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_half(source: Path, target: Path, card: ModelCard | None = None) -> str:
    """Copies a checkpoint with its floating-point tensors stored as float16
    (half the bytes; bundled weights share a size budget) and its card (or
    `card` instead) saying so; returns the new file's sha256. Refuses
    weights float16 cannot hold."""
    state, own_card, _ = load_checkpoint(source)
    card = replace(card or own_card)
    halved = {}
    for name, value in state.items():
        if value.is_floating_point():
            value = value.to(torch.float16)
            if not torch.isfinite(value).all():
                raise ValueError(f"{source}: {name} does not fit in float16")
        halved[name] = value.contiguous()
    card.storage = "float16"
    return _write(halved, card, Path(target))
