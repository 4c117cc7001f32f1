"""How the acoustic level samples a chunk's coarse codes: the knobs a model
card's `sampling` section stores and a service may override (`hiermusic
serve acoustic --sampling FILE --set NAME=VALUE`). Why each value: docs/experiments/sampling-knobs.md."""
from __future__ import annotations

from dataclasses import dataclass

from hiermusic.services.common.level import check_knob


@dataclass(frozen=True)
class CoarseSampling:
    temperature: float = 1.0  # a request's 0 means this
    top_k: int = 64  # a request's 0 means this
    # No drums asked: per coarse codebook, keep only the codes heard at least
    # this often without drums as with them (0: no floor). RVQ 1 only: RVQ 2's
    # codes tell little of drums, and a floor there narrows the choice for nothing.
    drums_floor: tuple[float, ...] = (0.5, 0.0)

    def __post_init__(self) -> None:
        check_knob("temperature", self.temperature, 0.0)
        check_knob("top_k", self.top_k, 0, integer=True)
        if not isinstance(self.drums_floor, (list, tuple)):
            raise ValueError(f"sampling.drums_floor: expected a list of numbers, one per coarse codebook, "
                             f"got {self.drums_floor!r}")
        for k, floor in enumerate(self.drums_floor):
            check_knob(f"drums_floor[{k}]", floor, 0.0, 1.0)
        object.__setattr__(self, "drums_floor", tuple(self.drums_floor))  # JSON gives a list
