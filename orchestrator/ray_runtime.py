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
from hiermusic.services.common.security import ClientSecurity


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[None]:
    """Starts (and afterwards stops) a local Ray, or connects to `address`."""
    # Ray's unix sockets live under its temp dir, whose path must stay short.
    temp_dir = None if address else tempfile.mkdtemp(prefix="hmray-", dir="/tmp")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = dict(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=True)
    if not address:
        kwargs.update(include_dashboard=False, num_cpus=num_cpus or os.cpu_count(), _temp_dir=temp_dir)
    try:
        with _loopback_only(not address):
            ray.init(**kwargs)
        yield
    finally:  # after a failed start too, so its temp dir goes
        ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


@contextmanager
def _loopback_only(local: bool) -> Iterator[None]:
    """A local Ray that binds loopback only. Ray takes its node address from
    the route out of the host and binds its GCS, raylet, workers and agents
    to it or to every interface (and turns a `_node_ip_address` of
    127.0.0.1 back into that address); it keeps to loopback only where it
    thinks no cluster can form, the switch Windows and macOS get by
    default. Its processes read the switch from the environment, this one
    from the constant read at import; both are put back once Ray has started."""
    if not local:
        yield
        return
    from ray._private import ray_constants

    name, before = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    constant = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[name], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = constant
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def start_scheduler(addresses: dict[str, str], config: SchedulerConfig, log_file: str = "",
                    security: ClientSecurity | None = None):  # -> actor handle
    """The scheduler actor; `security` (TLS and token of its level clients)
    reaches it as bytes, so it needs no file on the node it lands on."""
    return RemoteScheduler.options(max_concurrency=config.max_songs, **config.scheduler.options()).remote(
        addresses, config, log_file, security
    )
