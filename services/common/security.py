"""What closes a mesh: TLS on every gRPC hop from certificate files (mutual
when the server is given a CA), and a bearer token that every hiermusic RPC
must carry. A server's settings name files it reads when it starts; a
client's hold the PEM bytes and the token themselves, so a Ray actor on any
node of a cluster gets them through its constructor (docs/security.md).

grpc.health.v1 and reflection need no token: gRPC's client-side health
checking, which balances calls over replicas, cannot attach one, and the
contract reflection shows is public. Under TLS they are as closed as the rest
(mutual TLS still asks their callers for a certificate)."""
from __future__ import annotations

import collections
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog

# The RPCs the token guards are the ones the metrics interceptor observes.
from hiermusic.services.common.metrics import _SERVICE_PREFIX, LEVEL_REQUESTS

AUTHORIZATION_KEY = "authorization"


class SecurityError(ValueError):
    """Certificate or token settings that cannot be used; the message names the file or flag."""


def read_token(path: Path) -> str:
    """The token in `path`: its one line, printable ASCII without spaces (a
    gRPC metadata value), the trailing newline an editor adds dropped."""
    token = _read(path, "--token-file").decode(errors="replace").strip()
    if not token or not all(33 <= ord(c) < 127 for c in token):
        raise SecurityError(f"--token-file {path}: expected one line of printable ASCII without spaces")
    return token


def _read_pem(path: Path, what: str, marker: str) -> bytes:
    # grpc takes any bytes here and fails later with a message that names no file.
    data = _read(path, what)
    if b"-----BEGIN " not in data or marker.encode() not in data:
        raise SecurityError(f"{what} {path}: not a PEM file with a {marker.strip('-').strip()}")
    return data


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise SecurityError(f"{what} {path}: {err.strerror or err}") from None


def _read_cert(path: Path, what: str) -> bytes:
    return _read_pem(path, what, "CERTIFICATE-----")


def _read_key(path: Path) -> bytes:
    return _read_pem(path, "--tls-key", "PRIVATE KEY-----")


@dataclass
class ServerSecurity:
    """A server's TLS and token settings; all empty: plaintext, no token."""

    cert: Path | None = None  # PEM certificate (chain) the server presents
    key: Path | None = None  # its private key
    ca: Path | None = None  # with it, clients must present a certificate it signed (mutual TLS)
    token_file: Path | None = None  # with it, every hiermusic RPC must carry this bearer token

    def check(self) -> None:
        """Raises SecurityError unless the files make sense together."""
        if bool(self.cert) != bool(self.key):
            raise SecurityError("--tls-cert and --tls-key go together")
        if self.ca and not self.cert:
            raise SecurityError("--tls-ca asks clients for certificates, which needs TLS: give --tls-cert and --tls-key")

    def add_port(self, server: grpc.Server, address: str) -> int:
        """Binds `address`, with TLS when a certificate is set; returns the port."""
        self.check()
        if not self.cert:
            return server.add_insecure_port(address)
        credentials = grpc.ssl_server_credentials(
            [(_read_key(self.key), _read_cert(self.cert, "--tls-cert"))],
            root_certificates=_read_cert(self.ca, "--tls-ca") if self.ca else None,
            require_client_auth=bool(self.ca),
        )
        return server.add_secure_port(address, credentials)

    def interceptors(self, level: str) -> list[grpc.ServerInterceptor]:
        """The token check when a token file is set: first in the server's
        interceptors, so a refused call is turned away before anything reads
        or queues it."""
        return [TokenInterceptor(level, read_token(self.token_file))] if self.token_file else []

    def argv(self) -> list[str]:
        """The `hiermusic serve` flags that give a level these settings."""
        flags = (("--tls-cert", self.cert), ("--tls-key", self.key), ("--tls-ca", self.ca),
                 ("--token-file", self.token_file))
        return [arg for flag, value in flags if value for arg in (flag, str(value))]


class TokenInterceptor(grpc.ServerInterceptor):
    """Refuses a hiermusic RPC whose `authorization` metadata is not
    `Bearer <token>` with UNAUTHENTICATED, compared in constant time, and
    counts the refusal with the other codes (hiermusic_level_requests_total)
    and logs the caller's address. The refused request is never deserialized."""

    def __init__(self, level: str, token: str) -> None:
        self.level = level
        self._expected = f"Bearer {token}".encode()
        self.log = structlog.get_logger()

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.startswith(_SERVICE_PREFIX):
            return handler
        given = dict(details.invocation_metadata or ()).get(AUTHORIZATION_KEY, "")
        if hmac.compare_digest(given.encode() if isinstance(given, str) else given, self._expected):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        LEVEL_REQUESTS.labels(self.level, method, "UNAUTHENTICATED").inc()

        def refuse(request: bytes, context: grpc.ServicerContext) -> None:
            self.log.warning("unauthenticated", method=method, peer=context.peer())
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token (authorization metadata)")

        return grpc.unary_unary_rpc_method_handler(refuse)  # on the wire a unary and a streaming reply fail alike


@dataclass
class ClientSecurity:
    """A client's TLS and token settings, as bytes; all empty: plaintext, no token.
    TLS when a CA or a client certificate is set."""

    ca: bytes = b""  # PEM: the CA that signed the server's certificate (empty: the system's roots)
    cert: bytes = b""  # PEM: this client's certificate, for mutual TLS
    key: bytes = b""
    token: str = ""
    server_name: str = ""  # the name checked against the server's certificate (default: the address's host)

    @classmethod
    def from_files(cls, ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                   token_file: Path | None = None, server_name: str = "") -> ClientSecurity:
        """Reads the files; raises SecurityError (or OSError) naming the one that cannot be used."""
        if bool(cert) != bool(key):
            raise SecurityError("--tls-cert and --tls-key go together")
        return cls(
            ca=_read_cert(ca, "--tls-ca") if ca else b"",
            cert=_read_cert(cert, "--tls-cert") if cert else b"",
            key=_read_key(key) if key else b"",
            token=read_token(token_file) if token_file else "",
            server_name=server_name,
        )

    @property
    def tls(self) -> bool:
        return bool(self.ca or self.cert)

    def channel(self, target: str, options: Sequence[tuple[str, Any]] = (), name: str = "") -> grpc.Channel:
        """A channel to `target` with these settings; the token rides on every
        call. The server's certificate must name server_name, else `name`,
        else the target's host (`name`: for a target that has none, such as
        gRPC's ipv4: list of replicas)."""
        options = list(options)
        if self.tls and (self.server_name or name):
            options.append(("grpc.ssl_target_name_override", self.server_name or name))
        if self.tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=self.ca or None, private_key=self.key or None, certificate_chain=self.cert or None)
            channel = grpc.secure_channel(target, credentials, options=options)
        else:
            channel = grpc.insecure_channel(target, options=options)
        return grpc.intercept_channel(channel, _BearerToken(self.token)) if self.token else channel


class _CallDetails(
    collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                                            "compression")),
    grpc.ClientCallDetails,
):
    pass


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call. An interceptor
    rather than gRPC's call credentials, which a plaintext channel (a
    loopback mesh with a token and no TLS) refuses to carry."""

    def __init__(self, token: str) -> None:
        self._header = (AUTHORIZATION_KEY, f"Bearer {token}")

    def _with_token(self, details: grpc.ClientCallDetails) -> _CallDetails:
        return _CallDetails(details.method, details.timeout, [*(details.metadata or ()), self._header],
                            details.credentials, details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)
