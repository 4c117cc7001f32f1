"""What every level's model plugin shares: loading a checkpoint or building
random weights, the version it reports, and the chunk context it reads."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.checkpoint import ModelCard, load_checkpoint
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


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuilds a (nested) config dataclass from a model card's dict."""
    kwargs = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        sub = f.type if isinstance(f.type, type) else _resolve(cls, f.name)
        kwargs[f.name] = config_from_dict(sub, value) if is_dataclass(sub) and isinstance(value, dict) else value
    return cls(**kwargs)


def _resolve(cls: type, name: str) -> Any:
    import typing

    return typing.get_type_hints(cls)[name]


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
    seeded random weights, which the version and `trained` say plainly."""
    if checkpoint is not None:
        state, card, digest = load_checkpoint(Path(checkpoint))
        if card.plugin != plugin or card.level != level:
            raise ValueError(
                f"checkpoint {checkpoint} is for {card.level} plugin {card.plugin!r}, "
                f"not {level} plugin {plugin!r}"
            )
        cfg = config_from_dict(config_cls, card.config)
        module = build(cfg)
        module.load_state_dict(state)
        loaded = LoadedModel(module, cfg, card.version, digest, card.trained, card)
    else:
        cfg = config if config is not None else config_cls()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            module = build(cfg)
        digest = state_digest(module)
        loaded = LoadedModel(module, cfg, f"{plugin}-untrained-{digest[:8]}", "", False, None)
    loaded.module.to(device).eval()
    return loaded


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


def card_for(plugin: str, level: str, loaded_config: Any, token_space: TokenSpaceConfig, version: str) -> ModelCard:
    """A model card for weights about to be saved (training fills in the rest)."""
    return ModelCard(
        plugin=plugin,
        level=level,
        version=version,
        config=asdict(loaded_config),
        token_space=asdict(token_space),
    )
