"""`hiermusic train WHAT`: which trainer each name runs, and its config read
from a JSON file (any subset of the trainer's config dataclass, nested).

Each trainer lives with its level and has the same shape:
`train(data_dir, out_dir, config, device, log) -> {steps, wall_time_s, metrics,
checkpoint, steps_per_s}`, resuming from the newest checkpoint in out_dir. The
chunk levels' trainers also take, after the config, the plan each corpus song
would be served (corpus.chunked_songs.PlanConditioner): the semantic level's,
which only this room may reach, since a level never imports another."""
from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hiermusic.corpus.chunked_songs import PlanConditioner
from hiermusic.corpus.token_space import corpus_token_space
from hiermusic.services.common.config_dict import UnknownFieldError, config_from_dict
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.semantic.label_plans import SemanticPlanConditioner


@dataclass(frozen=True)
class Trainer:
    module: str
    config: str  # the config dataclass in `module`
    function: str  # train(data_dir, out_dir, config, device, log) in `module`
    produces: str  # what it writes into out_dir
    plans: bool = False  # train takes a PlanConditioner after the config (a chunk level's trainer)


TRAINERS: dict[str, Trainer] = {
    "codec": Trainer("hiermusic.services.temporal.codec_training", "CodecTrainConfig", "train", "codec.safetensors"),
    "text": Trainer("hiermusic.services.semantic.text_audio_training", "TextAudioTrainConfig", "train_text_audio",
                    "text_audio.safetensors"),
    "semantic": Trainer("hiermusic.services.semantic.semantic_training", "SemanticTrainConfig", "train",
                        "semantic.safetensors"),
    "acoustic": Trainer("hiermusic.services.acoustic.coarse_training", "CoarseTrainConfig", "train",
                        "acoustic.safetensors", plans=True),
    "temporal": Trainer("hiermusic.services.temporal.fine_training", "FineTrainConfig", "train",
                        "temporal.safetensors", plans=True),
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
    # Over the defaults as a whole: a nested config a default_factory sizes
    # (a transformer of 4 layers, say) keeps those sizes where the file is silent.
    try:
        return config_from_dict(cls, _merged(asdict(cls()), data))
    except UnknownFieldError as err:
        raise TrainConfigError(f"--config {config_file}: {err}") from None


def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def run_training(name: str, data_dir: Path, out_dir: Path, config: Any, device: str,
                 log: Callable[[str], None]) -> dict:
    trainer = TRAINERS[name]
    train = getattr(importlib.import_module(trainer.module), trainer.function)
    if trainer.plans:
        return train(data_dir, out_dir, config, semantic_plans(config, Path(data_dir), device), device, log)
    return train(data_dir, out_dir, config, device, log)


def semantic_plans(config: Any, data_dir: Path, device: str) -> PlanConditioner:
    """The semantic level's plans for a chunk level's trainer, made by the
    checkpoint its config names (config.semantic_checkpoint; empty: the
    seeded untrained weights an untrained service serves), embedded for the
    corpus's token space as the trainer's model is."""
    space = corpus_token_space(config.model.token_space, data_dir)
    checkpoint = Path(config.semantic_checkpoint) if config.semantic_checkpoint else None
    return SemanticPlanConditioner(checkpoint, space, resolve_device(device))
