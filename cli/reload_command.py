"""`hiermusic reload LEVEL HOST:PORT --checkpoint PATH [--plugin NAME]`: a
running level loads another checkpoint or plugin beside the model it serves
and switches between calls (services/common/model_control.py). The service
opens the path on its own machine."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hiermusic.cli.security_flags import add_security_flags, mesh_security
from hiermusic.services.common.limits import LEVELS


def add_reload_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reload", help="load another checkpoint or plugin into a running level, between its calls")
    p.add_argument("level", choices=LEVELS)
    p.add_argument("address", metavar="HOST:PORT")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="PATH",
                   help="safetensors weights with their JSON card, as a path on the service's machine "
                        "(a relative one is taken from this directory)")
    p.add_argument("--plugin", default="", metavar="NAME", help="model plugin name (default: the plugin serving now)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="seconds to wait for the load and the switch")
    add_security_flags(p)  # a closed mesh's levels take a reload only with its token and certificates
    p.set_defaults(run=run_reload)


def run_reload(args: argparse.Namespace) -> int:
    """Prints `LEVEL: PLUGIN OLD -> PLUGIN NEW` and returns 0; a refused or
    failed reload (the old model still serving) prints the level's message and returns 1."""
    import grpc

    from hiermusic.v1 import contract_pb2, contract_pb2_grpc

    try:
        _, client_security = mesh_security(args, starts_services=False)
    except ValueError as err:  # SecurityError
        print(f"error: {err}", file=sys.stderr)
        return 2
    request = contract_pb2.ReloadRequest(level=args.level, checkpoint=str(args.checkpoint.absolute()),
                                         plugin=args.plugin)
    with client_security.channel(args.address) as channel:
        try:
            response = contract_pb2_grpc.ModelControlStub(channel).Reload(request, timeout=args.timeout)
        except grpc.RpcError as err:
            print(f"error: {args.level} at {args.address} did not reload: {err.code().name}: {err.details()}",
                  file=sys.stderr)
            return 1
    before, after = response.before, response.after
    print(f"{args.level}: {before.plugin} {before.model_version} -> {after.plugin} {after.model_version}")
    return 0
