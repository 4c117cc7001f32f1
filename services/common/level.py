"""What every level's model plugin shares: loading a checkpoint or building
random weights, the version it reports, its sampling settings, and the chunk
context it reads."""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.checkpoint import ModelCard, load_checkpoint
from hiermusic.services.common.config_dict import UnknownFieldError, config_from_dict
from hiermusic.services.common.contract import TokenSpaceConfig

C = TypeVar("C")

# Random weights are seeded so every replica of an untrained level is the same
# model: the mesh stays stateless even before training.
INIT_SEED = 0


@dataclass
class LoadedModel:
    module: torch.nn.Module
    config: Any
    version: str
    digest: str
    trained: bool
    card: ModelCard | None


def sampling_settings(cls: type[C], card: ModelCard | None, overrides: Mapping[str, Any]) -> C:
    """A level's sampling and rendering knobs (a frozen dataclass `cls`): its
    defaults, under the card's `sampling` section (no card, or a card
    without one: the defaults), under the service's `overrides`. An unknown
    or bad field is refused by its path, e.g. `sampling.key_weigth`."""
    settings = cls()
    if card is not None:
        try:
            settings = config_from_dict(cls, card.sampling, path="sampling.")
        except ValueError as err:
            raise ValueError(f"the model card of {card.version}: {err}") from None
    return config_from_dict(cls, asdict(settings) | dict(overrides), path="sampling.")


def check_knob(name: str, value: Any, low: float, high: float = math.inf, integer: bool = False) -> None:
    """Refuses a sampling knob that is not a number in [low, high] (an integer where `integer`), naming it."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"sampling.{name}: expected {kind} in [{low:g}, {high:g}], got {value!r}")


def load_or_init(
    plugin: str,
    level: str,
    config_cls: type[C],
    build: Callable[[C], torch.nn.Module],
    checkpoint: Path | None,
    device: torch.device,
    config: C | None = None,
) -> LoadedModel:
    """The plugin's module on `device`: from a checkpoint when given, else
    seeded random weights, which the version and `trained` say plainly.

    A checkpoint must hold every weight but those the module names in
    `neutral_at_init` (prefixes of state keys): layers that at their initial
    values leave the model's output as it was without them (a zero gate), so
    a checkpoint made before they existed is the same model with them. They
    are built from the seeded random weights, the same on every replica."""
    if checkpoint is not None:
        state, card, digest = load_checkpoint(Path(checkpoint))
        if card.plugin != plugin or card.level != level:
            raise ValueError(
                f"checkpoint {checkpoint} is for {card.level} plugin {card.plugin!r}, "
                f"not {level} plugin {plugin!r}"
            )
        try:
            cfg = config_from_dict(config_cls, card.model_config, "config.")
        except UnknownFieldError as err:
            raise ValueError(f"the model card of {checkpoint}: {err}") from None
        module = seeded(build, cfg)
        missing, unexpected = module.load_state_dict(state, strict=False)
        lacking = [k for k in missing if not k.startswith(getattr(module, "neutral_at_init", ()))]
        if lacking or unexpected:
            raise ValueError(f"checkpoint {checkpoint} does not fit {plugin}'s model: missing "
                             f"{', '.join(lacking) or 'nothing'}; unexpected {', '.join(unexpected) or 'nothing'}")
        loaded = LoadedModel(module, cfg, card.version, digest, card.trained, card)
    else:
        cfg = config if config is not None else config_cls()
        module = seeded(build, cfg)
        digest = state_digest(module)
        loaded = LoadedModel(module, cfg, f"{plugin}-untrained-{digest[:8]}", "", False, None)
    loaded.module.to(device).eval()
    return loaded


def seeded(build: Callable[[C], torch.nn.Module], config: C) -> torch.nn.Module:
    """The module with the random weights every replica draws (INIT_SEED)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return build(config)


def state_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def model_info(
    level: str,
    plugin: str,
    loaded: LoadedModel,
    token_space: TokenSpaceConfig,
    device: torch.device,
    codec_plugin: str = "",
    max_chunk_frames: int = 0,
    max_memory_frames: int = 0,
) -> contract_pb2.ModelInfo:
    return contract_pb2.ModelInfo(
        level=level,
        plugin=plugin,
        model_version=loaded.version,
        checkpoint_digest=loaded.digest,
        trained=loaded.trained,
        token_space=token_space.to_proto(),
        device=str(device),
        codec_plugin=codec_plugin,
        max_chunk_frames=max_chunk_frames,
        max_memory_frames=max_memory_frames,
    )


class ChunkLevelPlugin:
    """What the acoustic and temporal plugins share: a transformer over one
    chunk whose positions are the summary tokens followed by the frames."""

    loaded: LoadedModel

    @property
    def token_space(self) -> TokenSpaceConfig:
        return self.loaded.config.token_space

    @property
    def max_frames(self) -> int:
        """Longest chunk: the positions left after the summary tokens."""
        return self.loaded.config.transformer.max_len - self.token_space.summary_tokens


@dataclass
class ChunkInputs:
    """One chunk's cross-attention context, decoded and validated."""

    chunk_index: int
    start_frame: int
    num_frames: int
    semantic_start: int
    semantic_tokens: np.ndarray  # int64 [s]
    frame_sections: np.ndarray  # int64 [s], index into section_embeddings
    section_embeddings: np.ndarray  # float32 [k, E]
    text_embedding: np.ndarray  # float32 [E]
    section_energy: np.ndarray  # float32 [k]
    frame_beats: np.ndarray | None = None  # float32 [num_frames, 2]: beats and bars from the start; None: no grid
    drums: int = 0  # levels_pb2.Drums: 0 unsaid, 1 wanted, 2 unwanted
    section_drums: np.ndarray | None = None  # int64 [k], each section's Drums; None: `drums` for all
    rule_breaks: tuple[str, ...] = ()  # the rule-breaks of the chunk's sections, as received
    section_displaced: np.ndarray | None = None  # bool [k]: sections whose accents the plan displaces

    def drums_of_sections(self) -> np.ndarray:
        """int64 [k]: each touched section's Drums value."""
        if self.section_drums is not None:
            return self.section_drums
        return np.full(len(self.section_embeddings), self.drums, np.int64)


def card_for(plugin: str, level: str, loaded_config: Any, token_space: TokenSpaceConfig, version: str) -> ModelCard:
    """A model card for weights about to be saved (training fills in the rest)."""
    return ModelCard(
        plugin=plugin,
        level=level,
        version=version,
        config=asdict(loaded_config),
        token_space=asdict(token_space),
    )
