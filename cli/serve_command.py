"""`hiermusic serve LEVEL`: one level's service, built from its plugin and
handed to the server recipe. It lives in the command line's room because it
names every level's service module; services/common only builds plugins."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from types import ModuleType

import structlog

from hiermusic.services.acoustic import service as acoustic_service
from hiermusic.services.common.bootstrap import LevelConfig, build_plugin
from hiermusic.services.common.log import configure_logging
from hiermusic.services.common.model_control import SERVICE_NAME as MODEL_CONTROL
from hiermusic.services.common.model_slot import ModelSlot
from hiermusic.services.common.server import serve
from hiermusic.services.semantic import service as semantic_service
from hiermusic.services.temporal import service as temporal_service

SERVICES: dict[str, ModuleType] = {
    "semantic": semantic_service,
    "acoustic": acoustic_service,
    "temporal": temporal_service,
}


def run_level(config: LevelConfig) -> None:
    """Serves the level until SIGTERM or Ctrl-C."""
    configure_logging(config.level, config.log_level)
    plugin = build_plugin(config)
    # Describe's ModelInfo has no field for them, so the effective values are logged once here.
    if is_dataclass(settings := getattr(plugin, "sampling", None)):
        structlog.get_logger().info("sampling", settings=asdict(settings), overridden=sorted(config.sampling))
    service = SERVICES[config.level]
    # Held in a slot the servicers read per call, so `hiermusic reload` can swap it.
    slot = ModelSlot(config.level, plugin, config)
    serve(
        config.level,
        service.SERVICE_NAME,
        lambda server: service.add_to_server(slot, server),
        slot.info,
        config.server,
        current_info=lambda: slot.info,
        also_serves=(MODEL_CONTROL,),
    )
