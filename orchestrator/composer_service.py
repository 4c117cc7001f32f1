"""The Composer front door: Compose streams a song made by the Ray scheduler."""
from __future__ import annotations

import grpc
import ray

from hiermusic.v1 import composer_pb2, composer_pb2_grpc, contract_pb2
from hiermusic.orchestrator.song import SongError, unwrap
from hiermusic.services.common.limits import check_piece

SERVICE_NAME = composer_pb2.DESCRIPTOR.services_by_name["Composer"].full_name


def validate_request(request: composer_pb2.ComposeRequest) -> composer_pb2.ComposeRequest:
    """The front door for remote callers (and the command line's check before
    it starts a mesh): their request is checked here, once (the scheduler
    behind it trusts what passed). Returns it as the scheduler takes it: with
    its duration, which a plan may give (the chunks are laid out before the
    plan is made). Raises ValueError naming the field."""
    if not (request.chunk_s >= 0 and request.overlap_s >= 0):  # NaN fails too
        raise ValueError("chunk_s and overlap_s must not be negative (0: the scheduler's own)")
    if not request.HasField("plan"):
        check_piece(request.prompt, request.duration_s)
        return request
    # Here, not at the top: plan_request loads torch (the planner's bar length), which a plain request does not need.
    from hiermusic.services.semantic.plan_request import asked_piece

    _, duration, _ = asked_piece(request.prompt, request.duration_s, request.plan)
    if duration is None:
        raise ValueError("duration_s: missing; the plan states no duration_s, nor a tempo_bpm with every "
                         "section's bars, and the song's chunks are laid out before the plan is made")
    complete = composer_pb2.ComposeRequest()
    complete.CopyFrom(request)
    complete.duration_s = duration
    return complete


def refused_by_level(message: str) -> bool:
    """Whether a failed song's message (a LevelError's, which ends in the
    level's status and details) is the semantic level refusing what was
    asked, such as a plan that cannot be honoured."""
    return message.startswith("semantic level") and ": INVALID_ARGUMENT: " in message


def composer_info() -> contract_pb2.ModelInfo:
    from importlib.metadata import version

    return contract_pb2.ModelInfo(level="composer", plugin="ray-scheduler", model_version=version("hiermusic"), trained=True)


class ComposerServicer(composer_pb2_grpc.ComposerServicer):
    def __init__(self, scheduler) -> None:  # scheduler: a Ray actor handle
        self.scheduler = scheduler

    def Compose(self, request: composer_pb2.ComposeRequest, context: grpc.ServicerContext):
        try:
            request = validate_request(request)
        except ValueError as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        stream = self.scheduler.compose.options(num_returns="streaming").remote(request.SerializeToString())
        try:
            for ref in stream:
                if not context.is_active():
                    ray.cancel(stream)
                    return
                yield composer_pb2.ComposeEvent.FromString(ray.get(ref))
        except ray.exceptions.RayTaskError as err:
            cause = unwrap(err)
            code = grpc.StatusCode.UNAVAILABLE if isinstance(cause, SongError) else grpc.StatusCode.INTERNAL
            if isinstance(cause, SongError) and refused_by_level(str(cause)):
                code = grpc.StatusCode.INVALID_ARGUMENT
            context.abort(code, str(cause))


def add_to_server(scheduler, server: grpc.Server) -> None:
    composer_pb2_grpc.add_ComposerServicer_to_server(ComposerServicer(scheduler), server)
