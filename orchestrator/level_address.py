"""A level's address as users give it: HOST:PORT, or its replicas as
HOST:PORT,HOST:PORT,...; and the gRPC target and channel settings that
spread calls over the replicas, skip one that is down or draining, and pick
a restarted one up within a second."""
from __future__ import annotations

import json
import socket

from hiermusic.services.common.limits import MAX_MESSAGE_BYTES

# gRPC reconnects to a refusing address with exponential backoff, by default
# up to 120 s: a level restarted in 3 s would be ignored for minutes. A
# second at most keeps a restart's gap about as long as the restart.
RECONNECT_BACKOFF_MS = (100, 1000)  # first, most


def parse_address(text: str) -> str:
    """`text` if it is HOST:PORT or a comma list of distinct ones (spaces
    around the commas dropped); raises ValueError naming what is wrong."""
    parts = [part.strip() for part in text.split(",")]
    for part in parts:
        _host_port(part)
    if len(set(parts)) != len(parts):
        raise ValueError(f"{text!r} names a replica twice")
    return ",".join(parts)


def replicas(address: str) -> list[tuple[str, int]]:
    """(host, port) of each replica an address names."""
    return [_host_port(part.strip()) for part in address.split(",")]


def channel_target(address: str) -> str:
    """The gRPC target for an address. One HOST:PORT goes through gRPC's DNS
    resolver, so a name with several addresses is several replicas; a list
    is resolved here, once, to gRPC's static ipv4:/ipv6: list."""
    found = replicas(address)
    if len(found) == 1:
        host, port = found[0]
        return f"dns:///{_bracketed(host)}:{port}"
    resolved = [_resolve(host, port) for host, port in found]
    families = {family for family, _ in resolved}
    if len(families) > 1:
        raise ValueError(f"{address!r} mixes IPv4 and IPv6 replicas; gRPC balances over one family")
    scheme = "ipv4" if socket.AF_INET in families else "ipv6"
    return f"{scheme}:" + ",".join(f"{_bracketed(ip)}:{port}" for (_, ip), (_, port) in zip(resolved, found))


def certificate_name(address: str) -> str:
    """The name a TLS client checks the replicas' certificates against: a
    list's target (ipv4:...) has no host of its own, so its first replica's
    host, which every replica's certificate must then carry; "" for one
    HOST:PORT (gRPC checks its host)."""
    found = replicas(address)
    return found[0][0] if len(found) > 1 else ""


def channel_options(service: str) -> list[tuple[str, object]]:
    """Round robin over the replicas that report SERVING on grpc.health.v1
    (a draining one reports NOT_SERVING and gets no new calls); message
    limits as the services'. No retry policy here: the level client tries a
    refused call again itself (level_client.py), which round robin sends to
    another replica, and which keeps a level that cannot be reached
    UNAVAILABLE rather than a deadline passed inside gRPC's own retries."""
    config = {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": service}}
    first, most = RECONNECT_BACKOFF_MS
    return [
        ("grpc.service_config", json.dumps(config)),
        ("grpc.initial_reconnect_backoff_ms", first),
        ("grpc.min_reconnect_backoff_ms", first),
        ("grpc.max_reconnect_backoff_ms", most),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or "," in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _resolve(host: str, port: int) -> tuple[int, str]:
    """(family, address) of `host`, IPv4 first, as a replica list needs it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ValueError(f"replica {host}:{port}: cannot resolve {host!r} ({err.strerror})") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr[0]
