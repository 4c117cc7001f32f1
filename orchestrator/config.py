"""Scheduler configuration: chunking, deadlines and the Ray resources of each
actor (so on a GPU cluster the work lands where the config says)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hiermusic.services.common.chunk_layout import CHUNK_S, OVERLAP_S, SEMANTIC_MARGIN_S


@dataclass
class ActorResources:
    num_cpus: float = 0.0  # the clients mostly wait on gRPC; the services compute
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)

    def options(self) -> dict:
        opts: dict = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.resources:
            opts["resources"] = dict(self.resources)
        return opts


@dataclass
class SchedulerConfig:
    chunk_s: float = CHUNK_S
    overlap_s: float = OVERLAP_S
    # The first chunk alone is shorter: time to first audio is the plan plus
    # one chunk through both chunk levels, and both cost in proportion to the
    # chunk's frames. 0: as long as the others.
    first_chunk_s: float = 2.0
    semantic_margin_s: float = SEMANTIC_MARGIN_S  # plan context beyond the chunk on each side
    rpc_deadline_s: float = 60.0  # per level call; a dead level fails the song within it
    retries: int = 2  # extra attempts on UNAVAILABLE, so a restarted level is picked up
    max_songs: int = 4  # songs in flight at once in one scheduler
    metrics_port: int = 0  # 0: any free port
    metrics_host: str = "127.0.0.1"
    scheduler: ActorResources = field(default_factory=ActorResources)
    clients: dict[str, ActorResources] = field(
        default_factory=lambda: {name: ActorResources() for name in ("semantic", "acoustic", "temporal")}
    )

    @classmethod
    def from_file(cls, path: Path) -> "SchedulerConfig":
        data = json.loads(Path(path).read_text())
        config = cls(**{k: v for k, v in data.items() if k not in ("scheduler", "clients")})
        if "scheduler" in data:
            config.scheduler = ActorResources(**data["scheduler"])
        for name, res in data.get("clients", {}).items():
            config.clients[name] = ActorResources(**res)
        return config

    def to_dict(self) -> dict:
        return asdict(self)
