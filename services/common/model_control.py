"""The ModelControl service every level serves (Triton's model control): a
reload builds the new model beside the serving one, refuses it when its
token-space contract differs from the one the mesh agreed on, and otherwise
switches between calls. A failed load or a refused contract leaves the old
model serving, and the caller is told why."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass, replace
import threading
from pathlib import Path

import grpc
import structlog
from safetensors import SafetensorError

from hiermusic.v1 import contract_pb2, contract_pb2_grpc
from hiermusic.services.common.bootstrap import build_plugin
from hiermusic.services.common.contract import ContractMismatch, check_replacement, describe_model
from hiermusic.services.common.model_slot import ModelSlot
from hiermusic.services.common.plugins import UnknownPluginError

SERVICE_NAME = contract_pb2.DESCRIPTOR.services_by_name["ModelControl"].full_name


class ModelControlServicer(contract_pb2_grpc.ModelControlServicer):
    def __init__(self, slot: ModelSlot) -> None:
        self.slot = slot
        # One reload at a time: two loads side by side would hold three models.
        self._reloading = threading.Lock()
        self.log = structlog.get_logger()

    def Reload(self, request: contract_pb2.ReloadRequest, context: grpc.ServicerContext) -> contract_pb2.ReloadResponse:
        slot = self.slot
        if request.level and request.level != slot.level:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"level: this service is the {slot.level} level, not {request.level!r}")
        if request.checkpoint and not Path(request.checkpoint).is_absolute():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"checkpoint: {request.checkpoint!r} is not an absolute "
                          "path (the service opens it on its own machine)")
        with self._reloading:
            before = slot.info
            config = replace(slot.config, plugin=request.plugin or before.plugin,
                             checkpoint=Path(request.checkpoint) if request.checkpoint else None)
            code, problem = grpc.StatusCode.OK, ""
            try:
                plugin = build_plugin(config)
                after = plugin.info()
                check_replacement(before, after)
            except (FileNotFoundError, UnknownPluginError) as err:
                code, problem = grpc.StatusCode.NOT_FOUND, str(err)
            except ContractMismatch as err:
                code, problem = grpc.StatusCode.FAILED_PRECONDITION, str(err)
            except (ValueError, TypeError, KeyError, SafetensorError) as err:
                # A wrong level's checkpoint, a bad card, weights that do not fit the plugin's model
                code, problem = grpc.StatusCode.INVALID_ARGUMENT, f"{type(err).__name__}: {err}"
            except OSError as err:  # there but unreadable by the service (permissions, a folder)
                code, problem = grpc.StatusCode.FAILED_PRECONDITION, f"{type(err).__name__}: {err}"
            except Exception as err:  # whatever else a plugin raises: still the old model serves
                code, problem = grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}"
            if code != grpc.StatusCode.OK:
                self.log.warning("reload refused", code=code.name, reason=problem, checkpoint=request.checkpoint,
                                 plugin=config.plugin, serving=before.model_version)
                context.abort(code, f"{problem}; still serving {describe_model(before)}")
            slot.swap(plugin, after, context)
        # The service's sampling overrides hold for the new model too; its effective settings, as at start.
        settings = getattr(plugin, "sampling", None)
        self.log.info("reloaded", old_plugin=before.plugin, old_version=before.model_version,
                      new_plugin=after.plugin, new_version=after.model_version, checkpoint=request.checkpoint,
                      sampling=asdict(settings) if is_dataclass(settings) else None)
        return contract_pb2.ReloadResponse(before=before, after=after)


def add_model_control(slot: ModelSlot, server: grpc.Server) -> None:
    contract_pb2_grpc.add_ModelControlServicer_to_server(ModelControlServicer(slot), server)
