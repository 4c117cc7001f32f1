"""structlog JSON logs. The request id and chunk index travel in gRPC metadata
and are bound per RPC, so they appear on every line a service writes."""
from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog

REQUEST_ID_KEY = "x-request-id"
CHUNK_INDEX_KEY = "x-chunk-index"


def configure_logging(service: str, level: str = "info", file: TextIO | None = None) -> None:
    """JSON lines to `file` (default stderr), each with service and pid."""
    pid = os.getpid()

    # Static fields are added per line, not bound as context: gRPC handler
    # threads start with an empty context.
    def add_service(_logger: object, _name: str, event: dict) -> dict:
        event.setdefault("service", service)
        event.setdefault("pid", pid)
        return event

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_service,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=file or sys.stderr),
        cache_logger_on_first_use=True,
    )


def call_metadata(request_id: str, chunk_index: int | None = None) -> tuple[tuple[str, str], ...]:
    """Metadata a client attaches so the server's log lines carry its ids."""
    meta = [(REQUEST_ID_KEY, request_id)]
    if chunk_index is not None:
        meta.append((CHUNK_INDEX_KEY, str(chunk_index)))
    return tuple(meta)
