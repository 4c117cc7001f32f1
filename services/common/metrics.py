"""Prometheus metrics of a level service, recorded by a server interceptor so
every RPC is measured the same way whatever the level."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import grpc
import structlog
from prometheus_client import Counter, Gauge, Histogram

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.admission import Admission, Full
from hiermusic.services.common.limits import clipped
from hiermusic.services.common.log import CHUNK_INDEX_KEY, REQUEST_ID_KEY

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)

LEVEL_LATENCY = Histogram(
    "hiermusic_level_request_seconds",
    "Wall time of a level RPC.",
    ["level", "method", "model", "version"],
    buckets=_BUCKETS,
)
LEVEL_REQUESTS = Counter(
    "hiermusic_level_requests_total", "Level RPCs by gRPC status code.", ["level", "method", "code"]
)
LEVEL_QUEUE = Histogram(
    "hiermusic_level_queue_seconds",
    "Time an RPC waited for the model before running.",
    ["level", "method"],
    buckets=_BUCKETS,
)
LEVEL_IN_FLIGHT = Gauge("hiermusic_level_in_flight", "RPCs being served.", ["level"])
LEVEL_CHUNKS = Counter("hiermusic_level_chunks_total", "Chunks produced.", ["level"])

_SERVICE_PREFIX = "/hiermusic.v1."
# Calls that never wait for a model, so never count against its queue.
UNQUEUED_METHODS = frozenset({"Describe", "Reload"})


class ObservabilityInterceptor(grpc.ServerInterceptor):
    """Wraps each hiermusic RPC handler (not health or reflection): binds the
    caller's request id and chunk index to the log context, decodes the
    request, admits the call (`admission`: a bounded queue), times it and
    counts it by status code, so every refusal shows in /metrics: a bad
    header, an undecodable message, a full service, work the caller abandoned."""

    def __init__(self, level: str, info: contract_pb2.ModelInfo | Callable[[], contract_pb2.ModelInfo],
                 admission: Admission | None = None) -> None:
        """`info`: the level's model, or how to read the one serving now (a reload changes it)."""
        self.level = level
        self.current_info = info if callable(info) else lambda: info
        self.admission = admission
        self.log = structlog.get_logger()

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.startswith(_SERVICE_PREFIX):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        meta = dict(details.invocation_metadata or ())
        # The request is decoded here, not by gRPC, so that a message that is
        # not one is the caller's INVALID_ARGUMENT, counted, not gRPC's uncounted INTERNAL.
        decode = handler.request_deserializer or (lambda raw: raw)
        if handler.unary_unary is not None:
            behaviour = handler.unary_unary

            def observed(raw: bytes, context: grpc.ServicerContext) -> Any:
                with self._observe(method, meta, context):
                    return behaviour(_decoded(raw, decode, context), context)

            wrap = grpc.unary_unary_rpc_method_handler
        elif handler.unary_stream is not None:
            streaming = handler.unary_stream

            def observed(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
                # Timed from the call to the last message: the whole stream.
                with self._observe(method, meta, context):
                    yield from streaming(_decoded(raw, decode, context), context)

            wrap = grpc.unary_stream_rpc_method_handler
        else:
            return handler
        return wrap(observed, request_deserializer=None, response_serializer=handler.response_serializer)

    @contextmanager
    def _observe(self, method: str, meta: dict, context: grpc.ServicerContext) -> Iterator[None]:
        request_id, bad_id = request_id_header(meta.get(REQUEST_ID_KEY))
        chunk, bad_header = chunk_index_header(meta.get(CHUNK_INDEX_KEY))
        bad_header = bad_header or bad_id
        with structlog.contextvars.bound_contextvars(request_id=request_id, chunk_index=chunk, method=method):
            start = time.perf_counter()
            model = self.current_info()  # the model serving as the call arrives: the one it runs on
            code = grpc.StatusCode.OK
            LEVEL_IN_FLIGHT.labels(self.level).inc()
            try:
                with ExitStack() as admitted:
                    if bad_header:  # the caller's mistake, counted like any refusal
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, bad_header)
                    if self.admission is not None and method not in UNQUEUED_METHODS:
                        try:
                            admitted.enter_context(self.admission.enter())
                        except Full as err:
                            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{self.level}: {err}")
                    yield
                if not context.is_active():  # answered, but nobody was waiting for it any more
                    code = abandoned_code(context)
            except Exception:
                code = context.code() or (abandoned_code(context) if not context.is_active() else grpc.StatusCode.UNKNOWN)
                raise
            except GeneratorExit:
                code = abandoned_code(context)  # the caller stopped reading a stream
                raise
            finally:
                seconds = time.perf_counter() - start
                LEVEL_IN_FLIGHT.labels(self.level).dec()
                LEVEL_LATENCY.labels(self.level, method, model.plugin, model.model_version).observe(seconds)
                LEVEL_REQUESTS.labels(self.level, method, code.name).inc()
                self.log.info("rpc", code=code.name, seconds=round(seconds, 4))


def _decoded(raw: bytes, decode: Callable[[bytes], Any], context: grpc.ServicerContext) -> Any:
    try:
        return decode(raw)
    except Exception as err:  # protobuf's DecodeError, or a deserializer's own
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"undecodable request ({len(raw)} bytes): {err}"[:300])


def abandoned_code(context: grpc.ServicerContext) -> grpc.StatusCode:
    """The status of a call its caller gave up on: its deadline passed, or it cancelled."""
    remaining = context.time_remaining()
    return grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else grpc.StatusCode.CANCELLED


MAX_REQUEST_ID_CHARS = 128  # a UUID and then some; every log line of the call carries it


def request_id_header(value: str | None) -> tuple[str, str]:
    """The x-request-id a caller sent (a new one when it sent none), and what
    is wrong with it ("" when nothing): printable ASCII without spaces, up to
    MAX_REQUEST_ID_CHARS (a 4,000-character id was logged on every line)."""
    if not value:
        return uuid.uuid4().hex[:12], ""
    if len(value) <= MAX_REQUEST_ID_CHARS and value.isascii() and value.isprintable() and " " not in value:
        return value, ""
    return uuid.uuid4().hex[:12], (f"metadata {REQUEST_ID_KEY}: {clipped(value)!r} is not a request id "
                                   f"(printable ASCII without spaces, at most {MAX_REQUEST_ID_CHARS} characters)")


def chunk_index_header(value: str | None) -> tuple[int | None, str]:
    """The x-chunk-index a caller sent (None when it sent none), and what is
    wrong with it ("" when nothing): an integer from 0, as call_metadata writes it."""
    if value is None:
        return None, ""
    if value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value), ""
    return None, f"metadata {CHUNK_INDEX_KEY}: {clipped(value)!r} is not a chunk index (an integer from 0)"
