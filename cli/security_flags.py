"""The TLS and token flags of every command that serves or calls a mesh, and
the settings they make (services/common/security.py, docs/security.md). One
set of files serves a whole mesh: what a command serves presents the
certificate, what it calls presents the same one as its client certificate."""
from __future__ import annotations

import argparse
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `hiermusic --help` need not load grpc
    from hiermusic.services.common.security import ClientSecurity, ServerSecurity


def add_security_flags(parser: argparse.ArgumentParser, client: bool = True) -> None:
    """`client`: the command calls servers (all but `serve`)."""
    group = parser.add_argument_group("TLS and token (docs/security.md)")
    group.add_argument("--tls-cert", type=Path, metavar="FILE",
                       help="PEM certificate the service presents" if not client else
                       "PEM certificate the services started here present, and calls from here (mutual TLS)")
    group.add_argument("--tls-key", type=Path, metavar="FILE", help="the certificate's PEM private key")
    group.add_argument("--tls-ca", type=Path, metavar="FILE",
                       help="PEM CA: services ask their clients for a certificate it signed (mutual TLS)"
                       + ("; clients check the servers' certificates against it" if client else ""))
    group.add_argument("--token-file", type=Path, metavar="FILE",
                       help="a bearer token that every hiermusic call must carry"
                       + (" and that calls from here carry" if client else "")
                       + " (a file, as a value on the command line would show in ps)")
    if client:
        group.add_argument("--tls-server-name", default="", metavar="NAME",
                           help="the name the servers' certificates carry, when it is not the address's host")


def server_security(args: argparse.Namespace) -> ServerSecurity:
    """What the services this command starts (or `serve`) are given;
    raises SecurityError when the flags do not go together."""
    from hiermusic.services.common.security import ServerSecurity

    security = ServerSecurity(cert=args.tls_cert, key=args.tls_key, ca=args.tls_ca, token_file=args.token_file)
    security.check()
    return security


def mesh_security(args: argparse.Namespace, starts_services: bool) -> tuple[ServerSecurity, ClientSecurity]:
    """The services' settings (checked only when this command starts some)
    and the clients' (their files read now, so a bad one stops the command
    before anything starts); raises SecurityError naming the flag."""
    from hiermusic.services.common.security import ClientSecurity, ServerSecurity

    server = server_security(args) if starts_services else ServerSecurity()
    client = ClientSecurity.from_files(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key,
                                       token_file=args.token_file, server_name=args.tls_server_name)
    return server, client
