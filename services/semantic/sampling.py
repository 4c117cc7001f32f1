"""How the semantic level samples a plan: the knobs a model card's
`sampling` section stores and a service may override (`hiermusic serve
semantic --sampling FILE --set NAME=VALUE`). Why each value: docs/experiments/sampling-knobs.md."""
from __future__ import annotations

from dataclasses import dataclass

from hiermusic.services.common.level import check_knob


@dataclass(frozen=True)
class SemanticSampling:
    temperature: float = 1.0  # a request's 0 means this
    top_k: int = 50  # a request's 0 means this; the key and drums terms act among these candidates only
    repeat_copy: float = 0.65  # share of a repeat's tokens copied from its first occurrence: the corpus's own share
    key_weight: float = 4.0  # pull back to the planned key as the recent tokens' chroma drifts (0: off)
    key_window: int = 25  # frames (2 s) whose chroma the key pull compares with the key's
    # The pull in sections asked borrowed chords, towards the mode they borrow
    # from (0: off). Stronger than key_weight: at 4 such a section's tokens
    # barely moved, at 30 the audio hardly (see sampling-knobs.md).
    borrow_weight: float = 80.0
    drums_weight: float = 1.0  # scale of the corpus's drums evidence; 1 is Bayes' product of experts
    drums_floor: float = 0.5  # drums said: keep only tokens heard at least this often with them as without (0: off)

    def __post_init__(self) -> None:
        check_knob("temperature", self.temperature, 0.0)
        check_knob("top_k", self.top_k, 0, integer=True)
        check_knob("repeat_copy", self.repeat_copy, 0.0, 1.0)
        check_knob("key_weight", self.key_weight, 0.0)
        check_knob("key_window", self.key_window, 1, integer=True)
        check_knob("borrow_weight", self.borrow_weight, 0.0)
        check_knob("drums_weight", self.drums_weight, 0.0)
        check_knob("drums_floor", self.drums_floor, 0.0, 1.0)
