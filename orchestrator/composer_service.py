"""The Composer front door: Compose streams a song made by the Ray scheduler."""
from __future__ import annotations

import time

import grpc
import ray

from hiermusic.v1 import composer_pb2, composer_pb2_grpc, contract_pb2
from hiermusic.orchestrator.song import SongError, unwrap
from hiermusic.services.common.limits import MAX_CHUNK_S, MIN_CHUNK_S, check_piece

SERVICE_NAME = composer_pb2.DESCRIPTOR.services_by_name["Composer"].full_name


def validate_request(request: composer_pb2.ComposeRequest) -> composer_pb2.ComposeRequest:
    """The front door for remote callers (and the command line's check before
    it starts a mesh): their request is checked here, once (the scheduler
    behind it trusts what passed). Returns it as the scheduler takes it: with
    its duration, which a plan may give (the chunks are laid out before the
    plan is made). Raises ValueError naming the field."""
    chunk, overlap = request.chunk_s, request.overlap_s
    if not (chunk == 0 or MIN_CHUNK_S <= chunk <= MAX_CHUNK_S):  # NaN fails too
        raise ValueError(f"chunk_s {chunk!r}: expected 0 (the scheduler's own) or {MIN_CHUNK_S:g} to "
                         f"{MAX_CHUNK_S:g} seconds")
    if not (0 <= overlap < (chunk or MAX_CHUNK_S)):
        raise ValueError(f"overlap_s {overlap!r}: expected 0 (the scheduler's own) or more, and less than chunk_s")
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


# A level's status in a failed song's message, as the caller should hear it.
_PASSED_ON = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.CANCELLED)


def song_status(message: str) -> grpc.StatusCode:
    """The Composer's status for a song that failed with `message` (a
    LevelError's): the semantic level refusing what was asked is the
    caller's INVALID_ARGUMENT; a level unreachable, out of time, full or
    cancelled passes its own status on; a chunk level refusing what the
    scheduler built is the mesh's fault, INTERNAL."""
    if refused_by_level(message):
        return grpc.StatusCode.INVALID_ARGUMENT
    for code in _PASSED_ON:
        if f": {code.name}: " in message:
            return code
    return grpc.StatusCode.INTERNAL


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
        remaining = context.time_remaining()
        deadline = time.time() + remaining if remaining is not None else 0.0
        stream = self.scheduler.compose.options(num_returns="streaming").remote(request.SerializeToString(), deadline)
        # The caller gone (cancelled, its deadline passed): the song and the
        # level calls it has in flight are cancelled, not left to finish.
        context.add_callback(lambda: ray.cancel(stream))
        try:
            for ref in stream:
                if not context.is_active():
                    return
                yield composer_pb2.ComposeEvent.FromString(ray.get(ref))
        except ray.exceptions.TaskCancelledError:
            return  # our own ray.cancel: the caller is gone
        except ray.exceptions.RayTaskError as err:
            cause = unwrap(err)
            code = song_status(str(cause)) if isinstance(cause, SongError) else grpc.StatusCode.INTERNAL
            context.abort(code, str(cause))


def add_to_server(scheduler, server: grpc.Server) -> None:
    composer_pb2_grpc.add_ComposerServicer_to_server(ComposerServicer(scheduler), server)
