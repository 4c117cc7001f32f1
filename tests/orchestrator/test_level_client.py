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
