"""The model a level serves, held where its servicers read it on every call,
so that a reload (services/common/model_control.py) can put another in its
place between two calls without restarting the process."""
from __future__ import annotations

from typing import Any

import grpc

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.bootstrap import LevelConfig
from hiermusic.services.common.server import ModelGate


class ModelSlot:
    """A level's serving plugin and its ModelInfo, and the gate its model
    calls pass one at a time. A call reads `plugin` once and uses that one
    model from its first check to its answer; a swap waits for the gate, so
    it lands between two model calls and no call sees half of it."""

    def __init__(self, level: str, plugin: Any, config: LevelConfig | None = None) -> None:
        self.level = level
        # How the serving model was built; a reload builds its successor from
        # it (device, threads, codec, sampling overrides), changing only the
        # checkpoint and plugin. A bare plugin gets the level's defaults.
        self.config = config or LevelConfig(level)
        self.gate = ModelGate(level)
        # One attribute, replaced whole: a reader never pairs a plugin with another's info.
        self._serving: tuple[Any, contract_pb2.ModelInfo] = (plugin, plugin.info())

    @property
    def plugin(self) -> Any:
        return self._serving[0]

    @property
    def info(self) -> contract_pb2.ModelInfo:
        return self._serving[1]

    def swap(self, plugin: Any, info: contract_pb2.ModelInfo, context: grpc.ServicerContext) -> None:
        """Serves `plugin` (whose ModelInfo is `info`) from the next model call on."""
        with self.gate.hold(context, "Reload"):
            self._serving = (plugin, info)


def slot_of(level: str, model: Any) -> ModelSlot:
    """`model` when it is a ModelSlot, else a slot serving the plugin `model`:
    a level's add_to_server takes either (tests serve a bare plugin)."""
    return model if isinstance(model, ModelSlot) else ModelSlot(level, model)
