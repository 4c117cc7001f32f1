"""Where songs are composed from: an embedded mesh started here (three level
processes, Ray and the scheduler actor) or a running Composer. Both take a
ComposeRequest and hand each ComposeEvent of the stream to a callback, so
`generate` (one song) and `eval` (a prompt set) share one path."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Self

from hiermusic.orchestrator.config import SchedulerConfig
from hiermusic.orchestrator.mesh import LevelLaunch, LocalMesh, MeshError
from hiermusic.services.common.security import ClientSecurity
from hiermusic.v1 import composer_pb2, contract_pb2

EventHandler = Callable[[composer_pb2.ComposeEvent], None]


class ComposeError(RuntimeError):
    """The mesh could not start or a song failed; the message says where.
    `refused`: what was asked cannot be made (a plan the semantic level
    refuses), as opposed to a mesh that failed."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class EmbeddedComposer:
    """The levels as local processes plus a local Ray (or `ray_address`),
    held open for as many songs as the caller composes."""

    def __init__(self, run_dir: Path, launches: list[LevelLaunch], config: SchedulerConfig,
                 ray_address: str | None = None, security: ClientSecurity | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.mesh = LocalMesh(self.run_dir, launches)
        self.config = config
        self.ray_address = ray_address
        self.security = security  # the scheduler's, to the levels (each launch carries theirs)
        self.infos: dict[str, contract_pb2.ModelInfo] = {}
        self._stack = ExitStack()
        self._scheduler = None

    def __enter__(self) -> Self:
        import ray

        from hiermusic.orchestrator.ray_runtime import ray_session, start_scheduler

        self._stack.callback(self.mesh.stop)
        try:
            self.mesh.start()
            self._stack.enter_context(ray_session(self.ray_address))
            addresses = self.mesh.wait_ready()
            self._scheduler = start_scheduler(addresses, self.config, str(self.run_dir / "scheduler.log"),
                                              self.security)
            described = ray.get(self._scheduler.describe.remote())
        except (MeshError, ray.exceptions.RayError) as err:
            self._stack.close()
            raise ComposeError(_reason(err)) from err
        self.infos = {level: contract_pb2.ModelInfo.FromString(data) for level, data in described.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def compose(self, request: composer_pb2.ComposeRequest, handle: EventHandler) -> None:
        import ray

        from hiermusic.orchestrator.composer_service import refused_by_level

        try:
            stream = self._scheduler.compose.options(num_returns="streaming").remote(request.SerializeToString())
            for ref in stream:
                handle(composer_pb2.ComposeEvent.FromString(ray.get(ref)))
        except ray.exceptions.RayError as err:
            reason = _reason(err)
            raise ComposeError(reason, refused=refused_by_level(reason)) from err

    def level_metrics(self) -> dict[str, str]:
        """Each replica's Prometheus endpoint, HOST:PORT, by replica name (mesh.replica_name)."""
        return {name: f"127.0.0.1:{p.ready['metrics_port']}" for name, p in self.mesh.processes.items()}


class RemoteComposer:
    """A Composer already running (`hiermusic up`) at HOST:PORT."""

    def __init__(self, address: str, security: ClientSecurity | None = None) -> None:
        self.address = address
        self.security = security or ClientSecurity()
        self.infos: dict[str, contract_pb2.ModelInfo] = {}
        self._channel = None

    def __enter__(self) -> Self:
        from hiermusic.services.common.limits import MAX_MESSAGE_BYTES

        self._channel = self.security.channel(self.address, [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()

    def compose(self, request: composer_pb2.ComposeRequest, handle: EventHandler) -> None:
        import grpc

        from hiermusic.v1 import composer_pb2_grpc

        try:
            for event in composer_pb2_grpc.ComposerStub(self._channel).Compose(request):
                handle(event)
        except grpc.RpcError as err:
            raise ComposeError(f"composer at {self.address}: {err.code().name}: {err.details()}",
                               refused=err.code() == grpc.StatusCode.INVALID_ARGUMENT) from err

    def level_metrics(self) -> dict[str, str]:
        return {}  # a remote mesh's level endpoints are the operator's to name


def _reason(err: Exception) -> str:
    import ray

    from hiermusic.orchestrator.song import unwrap

    return str(unwrap(err)) if isinstance(err, ray.exceptions.RayTaskError) else str(err)
