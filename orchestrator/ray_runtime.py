"""Joining Ray: a private local runtime by default, or an existing cluster."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import ray

from hiermusic.orchestrator.config import SchedulerConfig
from hiermusic.orchestrator.scheduler import RemoteScheduler


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[None]:
    """Starts (and afterwards stops) a local Ray, or connects to `address`."""
    # Ray's unix sockets live under its temp dir, whose path must stay short.
    temp_dir = None if address else tempfile.mkdtemp(prefix="hmray-", dir="/tmp")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = dict(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=True)
    if not address:
        kwargs.update(include_dashboard=False, num_cpus=num_cpus or os.cpu_count(), _temp_dir=temp_dir)
    ray.init(**kwargs)
    try:
        yield
    finally:
        ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def start_scheduler(addresses: dict[str, str], config: SchedulerConfig, log_file: str = ""):  # -> actor handle
    return RemoteScheduler.options(max_concurrency=config.max_songs, **config.scheduler.options()).remote(
        addresses, config, log_file
    )
