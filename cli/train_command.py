"""`hiermusic train WHAT`: which trainer each name runs, and its config read
from a JSON file (any subset of the trainer's config dataclass, nested).

Each trainer lives with its level and has the same shape:
`train(data_dir, out_dir, config, device, log) -> {steps, wall_time_s, metrics,
checkpoint, steps_per_s}`, resuming from the newest checkpoint in out_dir."""
from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

from hiermusic.services.common.level import config_from_dict


@dataclass(frozen=True)
class Trainer:
    module: str
    config: str  # the config dataclass in `module`
    function: str  # train(data_dir, out_dir, config, device, log) in `module`
    produces: str  # what it writes into out_dir


TRAINERS: dict[str, Trainer] = {
    "codec": Trainer("hiermusic.services.temporal.codec_training", "CodecTrainConfig", "train", "codec.safetensors"),
    "text": Trainer("hiermusic.services.semantic.text_audio_training", "TextAudioTrainConfig", "train_text_audio",
                    "text_audio.safetensors"),
    "semantic": Trainer("hiermusic.services.semantic.semantic_training", "SemanticTrainConfig", "train",
                        "semantic.safetensors"),
    "acoustic": Trainer("hiermusic.services.acoustic.coarse_training", "CoarseTrainConfig", "train", "acoustic.safetensors"),
    "temporal": Trainer("hiermusic.services.temporal.fine_training", "FineTrainConfig", "train", "temporal.safetensors"),
}


class TrainConfigError(ValueError):
    pass


def load_train_config(name: str, config_file: Path | None) -> Any:
    """The trainer's config: its defaults, overridden by the JSON file's keys.
    An unknown key is refused with its path, not silently ignored."""
    cls = getattr(importlib.import_module(TRAINERS[name].module), TRAINERS[name].config)
    if config_file is None:
        return cls()
    try:
        data = json.loads(Path(config_file).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise TrainConfigError(f"--config {config_file}: {err}") from err
    if not isinstance(data, dict):
        raise TrainConfigError(f"--config {config_file}: expected a JSON object of {cls.__name__} fields")
    _check_keys(cls, data, config_file, "")
    # Over the defaults as a whole: a nested config a default_factory sizes
    # (a transformer of 4 layers, say) keeps those sizes where the file is silent.
    return config_from_dict(cls, _merged(asdict(cls()), data))


def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def _check_keys(cls: type, data: dict, source: Path, prefix: str) -> None:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key, value in data.items():
        if key not in known:
            raise TrainConfigError(f"--config {source}: unknown field '{prefix}{key}' "
                                   f"({cls.__name__} has {', '.join(sorted(known))})")
        if is_dataclass(hints[key]) and isinstance(value, dict):
            _check_keys(hints[key], value, source, f"{prefix}{key}.")


def run_training(name: str, data_dir: Path, out_dir: Path, config: Any, device: str,
                 log: Callable[[str], None]) -> dict:
    trainer = TRAINERS[name]
    train = getattr(importlib.import_module(trainer.module), trainer.function)
    return train(data_dir, out_dir, config, device, log)
