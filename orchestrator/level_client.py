"""A Ray actor per level that owns the gRPC channel to that level's service
(one or several replicas, level_address.py). Requests and responses cross it
as serialized protobuf, never pickled."""
from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import grpc
import ray

from hiermusic.v1 import contract_pb2
from hiermusic.orchestrator.level_address import certificate_name, channel_options, channel_target
from hiermusic.services.common.log import call_metadata
from hiermusic.services.common.security import ClientSecurity

SERVICES = {
    "semantic": "hiermusic.v1.SemanticLevel",
    "acoustic": "hiermusic.v1.AcousticLevel",
    "temporal": "hiermusic.v1.TemporalLevel",
}


class LevelError(RuntimeError):
    """A level call that failed; the message names the level and its address,
    then the status code and the level's details (`failure` reads them back)."""


_FAILURE = re.compile(r"^(\w+) level at .*? failed on .*?: ([A-Z_]+): ")


def failure(message: str) -> tuple[str, str]:
    """The level and status code name a LevelError's message states ("", "" if none)."""
    found = _FAILURE.match(message)
    return (found[1], found[2]) if found else ("", "")


# Pauses between tries of a level that refuses every connection: short, as
# the channel itself reconnects within a second (level_address.py).
BACKOFF_S = (0.1, 1.0)  # first, most
# How often a call waiting on a level looks whether its song was cancelled.
CANCEL_POLL_S = 0.05


def cancelled() -> bool:
    """Whether the Ray task running this call was cancelled (ray.cancel of its
    song reaches the calls the song made); False outside a Ray worker."""
    if not ray.is_initialized():  # get_runtime_context() would start a local Ray to answer
        return False
    try:
        return ray.get_runtime_context().is_canceled()
    except RuntimeError:
        return False


class LevelClient:
    def __init__(self, level: str, address: str, deadline_s: float, reconnect_s: float,
                 security: ClientSecurity | None = None) -> None:
        if level not in SERVICES:
            raise ValueError(f"unknown level {level!r}")
        self.level, self.address = level, address
        self.deadline_s, self.reconnect_s = deadline_s, reconnect_s
        self.channel = (security or ClientSecurity()).channel(
            channel_target(address), channel_options(SERVICES[level]), certificate_name(address))

    def call(
        self, method: str, request: bytes, request_id: str, chunk_index: int | None = None, song_deadline: float = 0.0
    ) -> tuple[bytes, float]:
        """One RPC with the level's deadline (or less: what is left of the
        song's, a wall-clock time; 0: none), returning the response and the
        seconds it took; UNAVAILABLE, and CANCELLED by the level, are tried
        again for up to reconnect_s (a level being restarted, all its replicas
        down), anything else fails at once. A cancelled song cancels the call
        at the level."""
        rpc = self.channel.unary_unary(f"/{SERVICES[self.level]}/{method}")
        start = time.monotonic()
        deadline = self._deadline(start, self.deadline_s, song_deadline)
        where = f"chunk {chunk_index}" if chunk_index is not None else method
        for attempt in itertools.count():
            remaining = deadline - time.monotonic()
            try:
                future = rpc.future(request, timeout=max(remaining, 0.001),
                                    metadata=call_metadata(request_id, chunk_index))
                return _awaited(future), time.monotonic() - start
            except grpc.RpcError as err:
                code = err.code()
                if self._backed_off(code, attempt, start, deadline):
                    continue
                raise LevelError(
                    f"{self.level} level at {self.address} failed on {where}: {code.name}: {err.details()}"
                ) from None
            except grpc.FutureCancelledError:
                raise LevelError(f"{self.level} level at {self.address} failed on {where}: CANCELLED: "
                                 "the song was cancelled") from None
        raise AssertionError("unreachable")  # for the type checker: the loop returns or raises

    def _deadline(self, start: float, deadline_s: float, song_deadline: float) -> float:
        """The call's monotonic deadline: `deadline_s` from `start`, or the song's if sooner."""
        deadline = start + deadline_s
        if song_deadline:
            deadline = min(deadline, start + song_deadline - time.time())
        return deadline

    def stream(self, method: str, request: bytes, request_id: str,
               deadline_s: float | None = None, song_deadline: float = 0.0) -> Iterator[tuple[bytes, float]]:
        """A server-streaming RPC: each message as it arrives, with the
        seconds since the call began (the last one's is the call's time).
        `deadline_s` (default: the level's) covers the whole stream, or less
        as `call`'s. UNAVAILABLE or the level's CANCELLED before the first message
        is retried like `call`; a stream that breaks later fails (its parts
        cannot be taken back). A cancelled song cancels the stream between messages."""
        rpc = self.channel.unary_stream(f"/{SERVICES[self.level]}/{method}")
        start = time.monotonic()
        deadline = self._deadline(start, deadline_s or self.deadline_s, song_deadline)
        for attempt in itertools.count():
            received = 0
            try:
                responses = rpc(request, timeout=max(deadline - time.monotonic(), 0.001),
                                metadata=call_metadata(request_id))
                for response in responses:
                    if cancelled():
                        responses.cancel()
                    received += 1
                    yield response, time.monotonic() - start
                return
            except grpc.RpcError as err:
                code = err.code()
                if not received and self._backed_off(code, attempt, start, deadline):
                    continue
                raise LevelError(
                    f"{self.level} level at {self.address} failed on {method} after {received} part(s): "
                    f"{code.name}: {err.details()}"
                ) from None

    def _backed_off(self, code: grpc.StatusCode, attempt: int, start: float, deadline: float) -> bool:
        """Whether a failed attempt is worth another while reconnect_s and the
        deadline leave time; if so, after the backoff. UNAVAILABLE: a level
        being restarted. CANCELLED while the song goes on: the level cancelled
        the call itself, as a server that is stopping does to calls that
        reach it after it began to drain (a call the song cancels ends in
        FutureCancelledError, or with `cancelled()` true). The levels are
        stateless, so a call tried again asks the same thing."""
        pause = min(BACKOFF_S[0] * 2**attempt, BACKOFF_S[1])
        now = time.monotonic()
        retried = code == grpc.StatusCode.UNAVAILABLE or (code == grpc.StatusCode.CANCELLED and not cancelled())
        if not retried or now + pause > min(start + self.reconnect_s, deadline):
            return False
        time.sleep(pause)
        return True

    def describe(self, request_id: str = "describe") -> bytes:
        return self.call("Describe", contract_pb2.DescribeRequest().SerializeToString(), request_id)[0]


def _awaited(future: grpc.Future) -> bytes:
    """The future's response, cancelling it when the Ray task waiting for it is cancelled."""
    while True:
        try:
            return future.result(timeout=CANCEL_POLL_S)
        except grpc.FutureTimeoutError:
            if cancelled():
                future.cancel()


RemoteLevelClient = ray.remote(max_concurrency=16)(LevelClient)
