"""A level's real gRPC service around a real plugin, in this process on a
loopback port: what service tests call through a real channel."""
from __future__ import annotations

from concurrent import futures
from contextlib import contextmanager
from typing import Callable, Iterator

import grpc


class InProcessLevel:
    """Serves `plugin` through the level's `add_to_server` until stop()."""

    def __init__(self, add_to_server: Callable[[object, grpc.Server], None], plugin: object) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        add_to_server(plugin, self.server)
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(0).wait()


@contextmanager
def level_stub(add_to_server: Callable[[object, grpc.Server], None], plugin: object, stub_class: type) -> Iterator:
    """A stub of `stub_class` on a channel to the level, closed and stopped after."""
    level = InProcessLevel(add_to_server, plugin)
    channel = grpc.insecure_channel(level.address)
    try:
        yield stub_class(channel)
    finally:
        channel.close()
        level.stop()
