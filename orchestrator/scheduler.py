"""The scheduler: a Ray actor that turns one request into a stream of plan,
audio chunks and a summary (orchestrator/song.py makes each song), after
checking that the levels it talks to agree on their token space."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TextIO

import ray
import structlog
from prometheus_client import start_http_server

from hiermusic.orchestrator.config import SchedulerConfig
from hiermusic.orchestrator.level_client import RemoteLevelClient, cancelled
from hiermusic.orchestrator.metrics import REGISTRY, SONGS, SONGS_IN_FLIGHT
from hiermusic.orchestrator.song import Song, SongError, fetch, song_chunks
from hiermusic.services.common.contract import ContractMismatch, check_agreement
from hiermusic.services.common.limits import LEVELS
from hiermusic.services.common.log import configure_logging
from hiermusic.services.common.security import ClientSecurity
from hiermusic.v1 import composer_pb2, contract_pb2


def _open_log(path: str) -> TextIO | None:
    """The actor runs in a Ray worker whose own stderr ends up in Ray's temp
    dir; on another node of a cluster the caller's path may not exist."""
    try:
        return open(path, "a", buffering=1) if path else None
    except OSError:
        return None


class Scheduler:
    def __init__(self, addresses: dict[str, str], config: SchedulerConfig, log_file: str = "",
                 security: ClientSecurity | None = None) -> None:
        configure_logging("scheduler", file=_open_log(log_file))
        missing = [level for level in LEVELS if level not in addresses]
        if missing:
            raise ValueError(f"no address for level(s) {', '.join(missing)}")
        self.config = config
        self.addresses = dict(addresses)
        self.clients = {
            level: RemoteLevelClient.options(**config.clients[level].options()).remote(
                level, addresses[level], config.rpc_deadline_s, config.reconnect_s, security
            )
            for level in LEVELS
        }
        server, _ = start_http_server(config.metrics_port, addr=config.metrics_host, registry=REGISTRY)
        self._metrics_port = server.server_port
        self.log = structlog.get_logger()

    def metrics_port(self) -> int:
        return self._metrics_port

    def describe(self, request_id: str = "describe") -> dict[str, bytes]:
        """Each level's ModelInfo, after checking that adjacent levels agree."""
        infos = {
            level: contract_pb2.ModelInfo.FromString(b)
            for level, b in zip(LEVELS, fetch([self.clients[level].describe.remote(request_id) for level in LEVELS]))
        }
        try:
            check_agreement(infos)
        except ContractMismatch as err:
            raise SongError(str(err)) from None
        return {level: info.SerializeToString() for level, info in infos.items()}

    def compose(self, request_bytes: bytes, deadline: float = 0.0) -> Iterator[bytes]:
        """Streams serialized ComposeEvents: the plan, each audio chunk, the
        summary; within the caller's `deadline` (a wall-clock time; 0: none).
        Cancelled (ray.cancel), it stops between chunks and its level calls
        in flight are cancelled at the levels.

        Not a boundary: a request reaches this actor through the Composer,
        which checks remote callers' requests, or through the command line's
        embedded mesh, which checks its flags before the mesh starts (and the
        semantic service checks the prompt and duration it is sent again, as
        a level anyone may call). What only the scheduler can check, the
        chunking against the models the levels run, is checked here."""
        request = composer_pb2.ComposeRequest.FromString(request_bytes)
        SONGS_IN_FLIGHT.inc()
        outcome = "error"
        try:
            for event in self._song(request, deadline).events():
                if cancelled():
                    return
                yield event.SerializeToString()
            outcome = "ok"
        finally:
            if cancelled():  # by the Composer, its caller gone: the level calls it cut failed too
                outcome = "cancelled"
            SONGS_IN_FLIGHT.dec()
            SONGS.labels(outcome).inc()

    def _song(self, request: composer_pb2.ComposeRequest, deadline: float) -> Song:
        request_id = uuid.uuid4().hex[:12]
        started = time.perf_counter()
        infos = {k: contract_pb2.ModelInfo.FromString(v) for k, v in self.describe(request_id).items()}
        return Song(
            request=request,
            request_id=request_id,
            clients=self.clients,
            config=self.config,
            infos=infos,
            chunks=song_chunks(request, self.config, infos),
            log=self.log.bind(request_id=request_id),
            started=started,
            deadline=deadline,
        )


RemoteScheduler = ray.remote(Scheduler)
