from __future__ import annotations

import json
import time

import pytest

from hiermusic.orchestrator.level_address import channel_options, channel_target, parse_address, replicas


def test_one_address_or_a_list_of_replicas():
    assert parse_address("127.0.0.1:5001") == "127.0.0.1:5001"
    assert parse_address("127.0.0.1:5001, localhost:5002") == "127.0.0.1:5001,localhost:5002"
    assert replicas("[::1]:5001,127.0.0.1:5002") == [("::1", 5001), ("127.0.0.1", 5002)]


@pytest.mark.parametrize("bad", ["5001", "host:", ":5001", "host:0", "host:70000", "a:1,,b:2", "a:1,a:1",
                                 "127.0.0.1:5001,127.0.0.1"])
def test_what_is_not_an_address_is_refused(bad):
    with pytest.raises(ValueError):
        parse_address(bad)


def test_one_name_goes_through_dns_a_list_is_resolved_to_one_family():
    assert channel_target("localhost:5001") == "dns:///localhost:5001"
    assert channel_target("[::1]:5001") == "dns:///[::1]:5001"
    assert channel_target("127.0.0.1:5001,localhost:5002") == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    assert channel_target("[::1]:5001,[::1]:5002") == "ipv6:[::1]:5001,[::1]:5002"
    with pytest.raises(ValueError, match="mixes IPv4 and IPv6"):
        channel_target("127.0.0.1:5001,[::1]:5002")
    with pytest.raises(ValueError, match="cannot resolve"):
        channel_target("127.0.0.1:5001,no-such-host.invalid:5002")


def test_the_channel_balances_over_healthy_replicas_and_reconnects_within_a_second():
    options = dict(channel_options("hiermusic.v1.TemporalLevel"))
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": "hiermusic.v1.TemporalLevel"}
    assert options["grpc.max_reconnect_backoff_ms"] <= 1000


def _replica(name: bytes):
    """A gRPC server answering the acoustic level's Describe with its name, with grpc.health.v1."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "hiermusic.v1.AcousticLevel", {"Describe": grpc.unary_unary_rpc_method_handler(lambda request, context: name)})
    server.add_generic_rpc_handlers((handler,))
    status = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(status, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    status.set("hiermusic.v1.AcousticLevel", health_pb2.HealthCheckResponse.SERVING)
    return server, status, port


def test_calls_are_spread_over_replicas_and_skip_one_that_is_not_serving():
    import grpc
    from grpc_health.v1 import health_pb2

    (a, a_health, a_port), (b, _, b_port) = _replica(b"a"), _replica(b"b")
    try:
        address = f"127.0.0.1:{a_port},127.0.0.1:{b_port}"
        with grpc.insecure_channel(channel_target(address), options=channel_options("hiermusic.v1.AcousticLevel")) as ch:
            describe = ch.unary_unary("/hiermusic.v1.AcousticLevel/Describe")
            seen = set()
            for _ in range(50):  # until both subchannels are connected
                seen.add(describe(b"", timeout=5, wait_for_ready=True))
                if len(seen) == 2:
                    break
            answers = [describe(b"", timeout=5) for _ in range(8)]
            assert answers.count(b"a") == answers.count(b"b") == 4
            a_health.set("hiermusic.v1.AcousticLevel", health_pb2.HealthCheckResponse.NOT_SERVING)  # as when draining
            time.sleep(0.5)
            assert {describe(b"", timeout=5) for _ in range(8)} == {b"b"}
    finally:
        a.stop(0)
        b.stop(0)
