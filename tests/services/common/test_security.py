"""TLS, mutual TLS and the bearer token on a real gRPC server in this process
(the Composer's servicer, health and the interceptors as serve() stacks
them), called through the clients' own channels."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from hiermusic.orchestrator import composer_service
from hiermusic.orchestrator.level_address import certificate_name, channel_options, channel_target
from hiermusic.services.common.metrics import ObservabilityInterceptor
from hiermusic.services.common.security import ClientSecurity, SecurityError, ServerSecurity, read_token
from hiermusic.v1 import composer_pb2, composer_pb2_grpc
from tests.services.common.tls_files import TlsFiles, make_tls_files

LEVEL = "security-test"  # its own metrics label, apart from other tests in this process
TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@contextmanager
def serving(security: ServerSecurity, replicas: int = 1) -> Iterator[str]:
    """The Composer's servicer (no scheduler: the calls here end at its
    request check) with health, on `replicas` loopback ports; yields the address."""
    servers, ports = [], []
    for _ in range(replicas):
        server = grpc.server(
            ThreadPoolExecutor(max_workers=2),
            interceptors=[*security.interceptors(LEVEL),
                          ObservabilityInterceptor(LEVEL, composer_service.composer_info())])
        composer_service.add_to_server(None, server)
        servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        servicer.set(composer_service.SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        ports.append(security.add_port(server, "127.0.0.1:0"))
        server.start()
        servers.append(server)
    try:
        yield ",".join(f"127.0.0.1:{port}" for port in ports)
    finally:
        for server in servers:
            server.stop(0).wait()


def compose_code(channel: grpc.Channel) -> grpc.StatusCode:
    """The status of a Compose call the servicer refuses (chunk_s out of
    range): INVALID_ARGUMENT means the call got through to it."""
    stream = composer_pb2_grpc.ComposerStub(channel).Compose(
        composer_pb2.ComposeRequest(prompt="a song", duration_s=4, chunk_s=0.01), timeout=TIMEOUT_S)
    with pytest.raises(grpc.RpcError) as err:
        list(stream)
    return err.value.code()


def health_code(channel: grpc.Channel) -> grpc.StatusCode:
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def refused_count(method: str = "Compose") -> float:
    return REGISTRY.get_sample_value(
        "hiermusic_level_requests_total", {"level": LEVEL, "method": method, "code": "UNAUTHENTICATED"}) or 0.0


def test_tls_serves_clients_that_trust_its_ca_only(files):
    with serving(ServerSecurity(cert=files.cert, key=files.key)) as address:
        with ClientSecurity.from_files(ca=files.ca).channel(address) as channel:
            assert compose_code(channel) == grpc.StatusCode.INVALID_ARGUMENT
            assert health_code(channel) == grpc.StatusCode.OK
        with ClientSecurity().channel(address) as plaintext:
            assert compose_code(plaintext) == grpc.StatusCode.UNAVAILABLE
        with ClientSecurity.from_files(ca=files.other_ca).channel(address) as doubting:
            assert compose_code(doubting) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_refuses_a_client_without_a_certificate(files):
    with serving(ServerSecurity(cert=files.cert, key=files.key, ca=files.ca)) as address:
        with ClientSecurity.from_files(ca=files.ca).channel(address) as anonymous:
            assert compose_code(anonymous) == grpc.StatusCode.UNAVAILABLE
            assert health_code(anonymous) == grpc.StatusCode.UNAVAILABLE  # TLS closes health too
        mutual = ClientSecurity.from_files(ca=files.ca, cert=files.cert, key=files.key)
        with mutual.channel(address) as channel:
            assert compose_code(channel) == grpc.StatusCode.INVALID_ARGUMENT


def test_token_missing_or_wrong_is_unauthenticated_and_counted(files, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token")
    before = refused_count()
    with serving(ServerSecurity(token_file=files.token)) as address:
        with ClientSecurity().channel(address) as none:
            assert compose_code(none) == grpc.StatusCode.UNAUTHENTICATED
            assert health_code(none) == grpc.StatusCode.OK  # health needs no token (security.py)
        with ClientSecurity.from_files(token_file=wrong).channel(address) as guessing:
            assert compose_code(guessing) == grpc.StatusCode.UNAUTHENTICATED
        with ClientSecurity.from_files(token_file=files.token).channel(address) as channel:
            assert compose_code(channel) == grpc.StatusCode.INVALID_ARGUMENT
    assert refused_count() == before + 2


def test_replicas_balanced_and_health_checked_over_mutual_tls_with_a_token(files):
    """The level clients' channel (level_address.py: round robin over the
    replicas grpc.health.v1 reports SERVING) works through TLS and the token."""
    security = ServerSecurity(cert=files.cert, key=files.key, ca=files.ca, token_file=files.token)
    client = ClientSecurity.from_files(ca=files.ca, cert=files.cert, key=files.key, token_file=files.token)
    with serving(security, replicas=2) as address:
        target, options = channel_target(address), channel_options(composer_service.SERVICE_NAME)
        with client.channel(target, options, certificate_name(address)) as channel:
            assert [compose_code(channel) for _ in range(4)] == [grpc.StatusCode.INVALID_ARGUMENT] * 4


def test_a_server_name_other_than_the_address_is_checked_against_the_certificate(files):
    with serving(ServerSecurity(cert=files.cert, key=files.key)) as address:
        named = ClientSecurity.from_files(ca=files.ca, server_name="localhost")
        with named.channel(address) as channel:
            assert compose_code(channel) == grpc.StatusCode.INVALID_ARGUMENT
        misnamed = ClientSecurity.from_files(ca=files.ca, server_name="elsewhere.example")
        with misnamed.channel(address) as channel:
            assert compose_code(channel) == grpc.StatusCode.UNAVAILABLE


def test_settings_that_cannot_work_are_refused_by_name(files, tmp_path: Path):
    with pytest.raises(SecurityError, match="--tls-cert and --tls-key go together"):
        ServerSecurity(cert=files.cert).check()
    with pytest.raises(SecurityError, match="--tls-ca asks clients"):
        ServerSecurity(ca=files.ca).check()
    with pytest.raises(SecurityError, match="--tls-cert and --tls-key go together"):
        ClientSecurity.from_files(key=files.key)
    with pytest.raises(SecurityError, match=f"--tls-ca {files.key}: not a PEM file with a CERTIFICATE"):
        ClientSecurity.from_files(ca=files.key)
    with pytest.raises(SecurityError, match=f"--tls-key {files.cert}: not a PEM file with a PRIVATE KEY"):
        ClientSecurity.from_files(cert=files.cert, key=files.cert)
    for text in ("", "\n", "two words\n", "caf\u00e9"):
        token = tmp_path / "token"
        token.write_text(text)
        with pytest.raises(SecurityError, match="expected one line of printable ASCII"):
            read_token(token)
    assert read_token(files.token) == "s3cret-token-for-tests"
    assert ServerSecurity(cert=files.cert, key=files.key, token_file=files.token).argv() == [
        "--tls-cert", str(files.cert), "--tls-key", str(files.key), "--token-file", str(files.token)]
