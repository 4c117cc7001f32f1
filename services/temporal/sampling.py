"""How the temporal level samples a chunk's fine codes and renders its audio:
the knobs a model card's `sampling` section stores and a service may override
(`hiermusic serve temporal --sampling FILE --set NAME=VALUE`). Why each value:
docs/experiments/sampling-knobs.md."""
from __future__ import annotations

from dataclasses import dataclass

from hiermusic.services.common.level import check_knob


@dataclass(frozen=True)
class FineSampling:
    # Fine levels are mostly determined by the coarse ones: sample close to the mode.
    temperature: float = 0.7  # a request's 0 means this
    top_k: int = 32  # a request's 0 means this
    # Decode the expected codebook vectors of the fine distributions, not the
    # codes drawn (which still go out as tokens and prefix): a drawn fine code
    # of this model adds mostly noise. A codec that cannot decode vectors gets the codes.
    render_expected: bool = True
    # Loudness automation (services/temporal/energy_gain.py): dB between a
    # section of energy 0 and one of energy 1; 0 renders the model's level alone.
    energy_gain_db: float = 3.0

    def __post_init__(self) -> None:
        check_knob("temperature", self.temperature, 0.0)
        check_knob("energy_gain_db", self.energy_gain_db, 0.0, 12.0)
        check_knob("top_k", self.top_k, 0, integer=True)
        if not isinstance(self.render_expected, bool):
            raise ValueError(f"sampling.render_expected: expected true or false, got {self.render_expected!r}")
