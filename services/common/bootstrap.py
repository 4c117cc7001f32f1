"""Building one level's plugin: resolve it by name, load its checkpoint (the
bundled weights by default) on its device with its sampling settings. The
command line (cli/serve_command.py) hands it to the server recipe."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch

from hiermusic.services.common.limits import LEVELS
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.plugins import load_plugin
from hiermusic.services.common.server import ServerConfig

DEFAULT_PLUGINS = {"semantic": "minilm_planner", "acoustic": "coarse_transformer", "temporal": "fine_transformer"}
# Package data, found through the package: a wheel installed anywhere serves them.
WEIGHTS_DIR = Path(str(files("hiermusic.weights")))


@dataclass
class LevelConfig:
    level: str
    plugin: str = ""  # "" = the level's default plugin
    checkpoint: Path | None = None  # None = bundled weights when present, else random
    device: str = "auto"
    codec_plugin: str = "stft_magnitude"  # temporal level only
    codec_checkpoint: Path | None = None
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    log_level: str = "info"
    server: ServerConfig = field(default_factory=ServerConfig)
    # Fields of the plugin's sampling settings over its card's (hiermusic serve --sampling / --set)
    sampling: dict[str, Any] = field(default_factory=dict)


def bundled_checkpoint(name: str) -> Path | None:
    path = WEIGHTS_DIR / f"{name}.safetensors"
    return path if path.is_file() else None


def build_plugin(config: LevelConfig):  # -> an instance of the level's plugin class
    if config.level not in LEVELS:
        raise ValueError(f"unknown level {config.level!r}; choose from {', '.join(LEVELS)}")
    name = config.plugin or DEFAULT_PLUGINS[config.level]
    plugin_cls = load_plugin(config.level, name)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    checkpoint = config.checkpoint
    if checkpoint is None and name == DEFAULT_PLUGINS[config.level]:
        checkpoint = bundled_checkpoint(config.level)
    # Only a plugin with sampling settings takes them; a third-party one need not.
    extra: dict[str, Any] = {}
    if config.sampling:
        if "sampling" not in inspect.signature(plugin_cls).parameters:
            raise ValueError(f"{config.level} plugin {name!r} has no sampling settings to override")
        extra["sampling"] = config.sampling
    if config.level == "temporal":
        load_plugin("codec", config.codec_plugin)  # fail early with the registry's message
        codec_checkpoint = config.codec_checkpoint
        if codec_checkpoint is None and config.codec_plugin == "stft_magnitude":
            codec_checkpoint = bundled_checkpoint("codec")
        return plugin_cls(checkpoint, device, codec_plugin=config.codec_plugin, codec_checkpoint=codec_checkpoint,
                          **extra)
    return plugin_cls(checkpoint, device, **extra)

