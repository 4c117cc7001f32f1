from __future__ import annotations

import socket
import time

import pytest

from hiermusic.orchestrator.level_client import LevelClient, LevelError


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("method", ["call", "stream"])
def test_an_unavailable_level_is_tried_for_reconnect_s_then_named(method):
    address = _closed_port()
    for reconnect_s in (0.0, 1.5):
        client = LevelClient("semantic", address, deadline_s=10.0, reconnect_s=reconnect_s)
        started = time.monotonic()
        with pytest.raises(LevelError, match=f"semantic level at {address} failed on .*UNAVAILABLE"):
            if method == "call":
                client.call("Plan", b"", "r1")
            else:
                list(client.stream("PlanStream", b"", "r1"))
        took = time.monotonic() - started
        # Backoff 0.1, 0.2, 0.4, 0.8 s...: a try is not begun past reconnect_s.
        assert reconnect_s * 0.4 <= took <= reconnect_s + 2, (reconnect_s, took)
        client.channel.close()


def test_no_retry_past_the_deadline():
    client = LevelClient("acoustic", _closed_port(), deadline_s=0.3, reconnect_s=30.0)
    started = time.monotonic()
    with pytest.raises(LevelError, match="UNAVAILABLE"):
        client.call("GenerateCoarse", b"", "r1", chunk_index=2)
    assert time.monotonic() - started < 0.6


class _CancelsFirst:
    """An in-process acoustic level that cancels its first `cancels` calls, as a draining server does, then answers."""

    def __init__(self, cancels: int) -> None:
        import grpc
        from concurrent import futures

        from hiermusic.orchestrator.level_client import SERVICES

        self.cancels, self.calls = cancels, 0

        def generate(request: bytes, context) -> bytes:
            self.calls += 1
            if self.calls <= self.cancels:
                context.abort(grpc.StatusCode.CANCELLED, "the server is stopping")
            return b"done"

        handlers = {"GenerateCoarse": grpc.unary_unary_rpc_method_handler(generate)}
        self.server = grpc.server(futures.ThreadPoolExecutor(2))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICES["acoustic"], handlers)])
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()


def test_a_call_the_level_cancels_is_tried_again_within_reconnect_s():
    level = _CancelsFirst(cancels=2)
    try:
        client = LevelClient("acoustic", level.address, deadline_s=10.0, reconnect_s=5.0)
        assert client.call("GenerateCoarse", b"", "r1", chunk_index=1)[0] == b"done" and level.calls == 3
        always = _CancelsFirst(cancels=1000)
        try:
            client = LevelClient("acoustic", always.address, deadline_s=10.0, reconnect_s=0.5)
            with pytest.raises(LevelError, match="failed on chunk 1: CANCELLED: the server is stopping"):
                client.call("GenerateCoarse", b"", "r1", chunk_index=1)
            assert 2 <= always.calls <= 5  # tried for reconnect_s, not for the deadline
        finally:
            always.server.stop(0)
    finally:
        level.server.stop(0)
