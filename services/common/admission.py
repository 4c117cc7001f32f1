"""How much work a service takes in: the calls it runs at once and the calls
that may wait for them. Past both, a call is refused at once with
RESOURCE_EXHAUSTED (Ray Serve's max_ongoing_requests and max_queued_requests,
Triton's max_queue_size): a queue without a bound only turns overload into
every caller's timeout."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class AdmissionLimits:
    running: int = 1  # a level runs one model call at a time (ModelGate); the Composer, its songs in flight
    queued: int = 8  # calls that may wait for a running one; past it, RESOURCE_EXHAUSTED

    def __post_init__(self) -> None:
        if self.running < 1 or self.queued < 0:
            raise ValueError(f"admission: running {self.running} (at least 1) and queued {self.queued} (at least 0)")

    @property
    def total(self) -> int:
        return self.running + self.queued


class Full(Exception):
    """Raised by Admission.enter when the service holds all it may."""


class Admission:
    """Counts the calls inside a service; `enter` lets one in or raises Full."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self._inside = 0
        self._lock = threading.Lock()

    @property
    def inside(self) -> int:
        return self._inside

    @contextmanager
    def enter(self) -> Iterator[None]:
        with self._lock:
            if self._inside >= self.limits.total:
                raise Full(f"{self.limits.running} call(s) running and {self.limits.queued} waiting, the most this "
                           "service takes; try again later or another replica")
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
