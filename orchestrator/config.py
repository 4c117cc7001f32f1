"""Scheduler configuration: chunking, deadlines and the Ray resources of each
actor (so on a GPU cluster the work lands where the config says)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hiermusic.services.common.chunk_layout import CHUNK_S, OVERLAP_S, SEMANTIC_MARGIN_S
from hiermusic.services.common.config_dict import UnknownFieldError, config_from_dict
from hiermusic.services.common.limits import LEVELS, MAX_CHUNK_S, MAX_SEMANTIC_MARGIN_S, MIN_CHUNK_S


class SchedulerConfigError(ValueError):
    """A scheduler config file that cannot be used; the message names the file and the field."""


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
    # How long a call keeps trying a level that refuses it (UNAVAILABLE: a
    # restart, every replica down) before the song fails; within the deadline.
    reconnect_s: float = 20.0
    max_songs: int = 4  # songs in flight at once in one scheduler
    # Songs the Composer lets wait for one of those; past it RESOURCE_EXHAUSTED at once.
    max_queued_songs: int = 4
    metrics_port: int = 0  # 0: any free port (`up` asks for 9449)
    metrics_host: str = "127.0.0.1"
    scheduler: ActorResources = field(default_factory=ActorResources)
    clients: dict[str, ActorResources] = field(default_factory=lambda: {name: ActorResources() for name in LEVELS})

    def __post_init__(self) -> None:
        if not 0 <= self.semantic_margin_s <= MAX_SEMANTIC_MARGIN_S:  # past it the levels refuse every chunk
            raise ValueError(f"semantic_margin_s {self.semantic_margin_s!r}: expected 0 to {MAX_SEMANTIC_MARGIN_S:g} s")
        if not (MIN_CHUNK_S <= self.chunk_s <= MAX_CHUNK_S and 0 <= self.overlap_s < self.chunk_s):
            raise ValueError(f"chunk_s {self.chunk_s!r}, overlap_s {self.overlap_s!r}: expected a chunk of "
                             f"{MIN_CHUNK_S:g} to {MAX_CHUNK_S:g} s and an overlap from 0, shorter than the chunk")
        if isinstance(self.max_songs, bool) or not isinstance(self.max_songs, int) or self.max_songs < 1:
            raise ValueError(f"max_songs {self.max_songs!r}: expected a whole number from 1")
        if isinstance(self.max_queued_songs, bool) or not isinstance(self.max_queued_songs, int) \
                or self.max_queued_songs < 0:
            raise ValueError(f"max_queued_songs {self.max_queued_songs!r}: expected a whole number from 0")

    @classmethod
    def from_file(cls, path: Path) -> "SchedulerConfig":
        """The defaults, overridden by the JSON file's fields; a field or level
        name the config lacks (a typo) is refused by its path, not ignored."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SchedulerConfigError(f"{path}: {err}") from None
        try:
            return cls.from_dict(data)
        except ValueError as err:  # UnknownFieldError among them
            raise SchedulerConfigError(f"{path}: {err}") from None

    @classmethod
    def from_dict(cls, data: object) -> "SchedulerConfig":
        """As from_file, from the file's parsed JSON; raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object of {cls.__name__} fields")
        for name in ("scheduler", "clients"):
            if not isinstance(data.get(name, {}), dict):
                raise ValueError(f"{name}: expected a JSON object")
        # clients is keyed by level, not by field: its names are checked here.
        config = config_from_dict(cls, {k: v for k, v in data.items() if k != "clients"})
        for level, resources in data.get("clients", {}).items():
            if level not in LEVELS:
                raise UnknownFieldError(
                    f"clients.{level}: unknown level; expected {', '.join(LEVELS[:-1])} or {LEVELS[-1]}"
                )
            if not isinstance(resources, dict):
                raise ValueError(f"clients.{level}: expected a JSON object")
            config.clients[level] = config_from_dict(ActorResources, resources, path=f"clients.{level}.")
        return config

    def to_dict(self) -> dict:
        return asdict(self)
