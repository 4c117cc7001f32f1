"""Starting one level service: resolve its plugin by name, load the model on
its device, then hand it to the server recipe."""
from __future__ import annotations

import importlib
from importlib.resources import files
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hiermusic.services.common.log import configure_logging
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.plugins import load_plugin
from hiermusic.services.common.server import ServerConfig, serve

LEVELS = ("semantic", "acoustic", "temporal")
DEFAULT_PLUGINS = {"semantic": "minilm_planner", "acoustic": "coarse_transformer", "temporal": "fine_transformer"}
# Package data, found through the package: a wheel installed anywhere serves them.
WEIGHTS_DIR = Path(str(files("hiermusic.weights")))


@dataclass
class LevelConfig:
    level: str
    plugin: str = ""  # "" = the level's default plugin
    checkpoint: Path | None = None  # None = bundled weights when present, else random
    device: str = "auto"
    codec_plugin: str = "seanet_small"  # temporal level only
    codec_checkpoint: Path | None = None
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    log_level: str = "info"
    server: ServerConfig = field(default_factory=ServerConfig)


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
    if config.level == "temporal":
        load_plugin("codec", config.codec_plugin)  # fail early with the registry's message
        codec_checkpoint = config.codec_checkpoint
        if codec_checkpoint is None and config.codec_plugin == "seanet_small":
            codec_checkpoint = bundled_checkpoint("codec")
        return plugin_cls(checkpoint, device, codec_plugin=config.codec_plugin, codec_checkpoint=codec_checkpoint)
    return plugin_cls(checkpoint, device)


def run_level(config: LevelConfig) -> None:
    configure_logging(config.level, config.log_level)
    plugin = build_plugin(config)
    service = importlib.import_module(f"hiermusic.services.{config.level}.service")
    serve(
        config.level,
        service.SERVICE_NAME,
        lambda server: service.add_to_server(plugin, server),
        plugin.info(),
        config.server,
    )
