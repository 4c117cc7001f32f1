"""The recipe every level service follows: metrics port, gRPC server with
limits, health and reflection, then serve until SIGTERM and drain."""
from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.admission import Admission, AdmissionLimits
from hiermusic.services.common.limits import MAX_MESSAGE_MB, clipped
from hiermusic.services.common.metrics import LEVEL_QUEUE, ObservabilityInterceptor
from hiermusic.services.common.security import ServerSecurity
from hiermusic.services.common.tensors import TensorError


CONTROL_THREADS = 8
MAX_STATUS_CHARS = 1000  # of a refusal's message


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port, reported in the ready file and the log
    metrics_port: int = 0
    max_message_mb: int = MAX_MESSAGE_MB
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    drain_s: float = 10.0  # grace for in-flight RPCs on SIGTERM
    ready_file: Path | None = None
    security: ServerSecurity = field(default_factory=ServerSecurity)  # TLS and token (security.py)


def serve(
    level: str,
    service_name: str,
    register: Callable[[grpc.Server], None],
    info: contract_pb2.ModelInfo,
    config: ServerConfig,
    current_info: Callable[[], contract_pb2.ModelInfo] | None = None,
    also_serves: tuple[str, ...] = (),
) -> None:
    """`info`: the model at start (ready file, log); `current_info`: the one
    serving now, read per call by the metrics (a reload changes it);
    `also_serves`: services `register` adds beside the level's (ModelControl)."""
    log = structlog.get_logger()
    metrics_server, _ = start_http_server(config.metrics_port, addr=config.host)
    metrics_port = metrics_server.server_port

    limit = config.max_message_mb * 1024 * 1024
    # A thread for every call admitted, and some for the calls that never
    # queue (Describe, health, reflection) and for refusing the rest at once;
    # gRPC's own bound past those is a backstop its refusals are not counted by.
    threads = config.admission.total + CONTROL_THREADS
    server = grpc.server(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix=level),
        # The token first: a caller without it is refused before its request is decoded or queued.
        interceptors=[*config.security.interceptors(level),
                      ObservabilityInterceptor(level, current_info or info, Admission(config.admission))],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.so_reuseport", 0),  # a second server must not share our port
        ],
        maximum_concurrent_rpcs=threads,
    )
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (service_name, *also_serves, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = config.security.add_port(server, f"{config.host}:{config.port}")
    server.start()
    for name in ("", service_name, *also_serves):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ready = {
        "level": level,
        "host": config.host,
        "port": port,
        "metrics_port": metrics_port,
        "pid": os.getpid(),
        "plugin": info.plugin,
        "model_version": info.model_version,
        "trained": info.trained,
    }
    if config.ready_file:
        tmp = Path(str(config.ready_file) + ".tmp")
        tmp.write_text(json.dumps(ready))
        tmp.replace(config.ready_file)  # atomic: a reader never sees half a file
    log.info("serving", **{k: v for k, v in ready.items() if k != "level"})
    if not info.trained:
        log.warning("untrained weights: this level's output is noise", plugin=info.plugin)

    stop.wait()
    log.info("draining", grace_s=config.drain_s)
    health_servicer.enter_graceful_shutdown()
    server.stop(config.drain_s).wait()
    metrics_server.shutdown()
    log.info("stopped")


class ModelGate:
    """One model call at a time per process (the model saturates the CPU cores
    anyway); the wait is reported as queue time and a caller whose deadline
    passed (or who cancelled) while waiting is told so instead of served late."""

    def __init__(self, level: str) -> None:
        self.level = level
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, context: grpc.ServicerContext, method: str) -> Iterator[None]:
        with LEVEL_QUEUE.labels(self.level, method).time():
            self._lock.acquire()
        try:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed while queued")
            if not context.is_active():  # the song was cancelled while this call waited
                context.abort(grpc.StatusCode.CANCELLED, "cancelled while queued")
            yield
        finally:
            self._lock.release()


@contextmanager
def invalid_argument(context: grpc.ServicerContext) -> Iterator[None]:
    """Turns a rejected input into INVALID_ARGUMENT with the validator's message."""
    try:
        yield
    except (TensorError, ValueError) as err:
        # Clipped: a message quoting a caller's megabytes must still fit gRPC's trailers.
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, clipped(str(err), MAX_STATUS_CHARS))
