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
def test_an_unavailable_level_is_retried_with_backoff_then_named(method):
    address = _closed_port()
    for retries, least_s in ((0, 0.0), (1, 0.5)):
        client = LevelClient("semantic", address, deadline_s=10.0, retries=retries)
        started = time.monotonic()
        with pytest.raises(LevelError, match=f"semantic level at {address} failed on .*UNAVAILABLE"):
            if method == "call":
                client.call("Plan", b"", "r1")
            else:
                list(client.stream("PlanStream", b"", "r1"))
        took = time.monotonic() - started
        assert least_s <= took < least_s + 5, (retries, took)
        client.channel.close()


def test_no_retry_past_the_deadline():
    client = LevelClient("acoustic", _closed_port(), deadline_s=0.3, retries=3)
    started = time.monotonic()
    with pytest.raises(LevelError, match="UNAVAILABLE"):
        client.call("GenerateCoarse", b"", "r1", chunk_index=2)
    assert time.monotonic() - started < 0.5  # a 0.5 s backoff would pass the deadline: not taken
