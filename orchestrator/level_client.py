"""A Ray actor per level that owns the gRPC channel to that level's service.
Requests and responses cross it as serialized protobuf, never pickled."""
from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import ray

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.limits import MAX_MESSAGE_BYTES
from hiermusic.services.common.log import call_metadata

SERVICES = {
    "semantic": "hiermusic.v1.SemanticLevel",
    "acoustic": "hiermusic.v1.AcousticLevel",
    "temporal": "hiermusic.v1.TemporalLevel",
}


class LevelError(RuntimeError):
    """A level call that failed; the message names the level and its address."""


class LevelClient:
    def __init__(self, level: str, address: str, deadline_s: float, retries: int) -> None:
        if level not in SERVICES:
            raise ValueError(f"unknown level {level!r}")
        self.level, self.address = level, address
        self.deadline_s, self.retries = deadline_s, retries
        self.channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )

    def call(
        self, method: str, request: bytes, request_id: str, chunk_index: int | None = None
    ) -> tuple[bytes, float]:
        """One RPC with the level's deadline, returning the response and the
        seconds it took; UNAVAILABLE is retried with backoff (a level being
        restarted), anything else fails at once."""
        rpc = self.channel.unary_unary(f"/{SERVICES[self.level]}/{method}")
        start = time.monotonic()
        deadline = start + self.deadline_s
        for attempt in range(self.retries + 1):
            remaining = deadline - time.monotonic()
            try:
                response = rpc(request, timeout=max(remaining, 0.001), metadata=call_metadata(request_id, chunk_index))
                return response, time.monotonic() - start
            except grpc.RpcError as err:
                code = err.code()
                if self._backed_off(code, attempt, deadline):
                    continue
                where = f"chunk {chunk_index}" if chunk_index is not None else method
                raise LevelError(
                    f"{self.level} level at {self.address} failed on {where}: {code.name}: {err.details()}"
                ) from None
        raise AssertionError("unreachable")

    def stream(self, method: str, request: bytes, request_id: str,
               deadline_s: float | None = None) -> Iterator[tuple[bytes, float]]:
        """A server-streaming RPC: each message as it arrives, with the
        seconds since the call began (the last one's is the call's time).
        `deadline_s` (default: the level's) covers the whole stream. UNAVAILABLE before the first message
        is retried like `call`; a stream that breaks later fails (its parts
        cannot be taken back)."""
        rpc = self.channel.unary_stream(f"/{SERVICES[self.level]}/{method}")
        start = time.monotonic()
        deadline = start + (deadline_s or self.deadline_s)
        for attempt in range(self.retries + 1):
            received = 0
            try:
                responses = rpc(request, timeout=max(deadline - time.monotonic(), 0.001),
                                metadata=call_metadata(request_id))
                for response in responses:
                    received += 1
                    yield response, time.monotonic() - start
                return
            except grpc.RpcError as err:
                code = err.code()
                if not received and self._backed_off(code, attempt, deadline):
                    continue
                raise LevelError(
                    f"{self.level} level at {self.address} failed on {method} after {received} part(s): "
                    f"{code.name}: {err.details()}"
                ) from None

    def _backed_off(self, code: grpc.StatusCode, attempt: int, deadline: float) -> bool:
        """Whether a failed attempt is worth another: UNAVAILABLE (a level
        being restarted) with retries and time left; if so, after the backoff."""
        pause = 0.5 * 2**attempt
        if code != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries or deadline - time.monotonic() <= pause:
            return False
        time.sleep(pause)
        return True

    def describe(self, request_id: str = "describe") -> bytes:
        return self.call("Describe", contract_pb2.DescribeRequest().SerializeToString(), request_id)[0]


RemoteLevelClient = ray.remote(max_concurrency=16)(LevelClient)
