"""The semantic service with the bundled planner in this process, on a
loopback port, and a plan that states every field, so a test knows the plan
it gets back."""
from __future__ import annotations

import torch

from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.semantic.plugin import MiniLMPlanner
from hiermusic.services.semantic.service import add_to_server
from hiermusic.v1 import levels_pb2
from tests.services.in_process import InProcessLevel

S = levels_pb2.Section
# 16 s at 120 bpm: an 8 s intro (1.5x and more the choruses' 4 s, as an extended intro must be) and two choruses.
STATED = levels_pb2.PiecePlan(
    prompt="a folk song", duration_s=16, tempo_bpm=120, key="D", mode="minor", drums=levels_pb2.DRUMS_WANTED,
    extended_intro=True, sections=[
        S(type="intro", bars=4, energy=0.25, description="quiet piano, no drums", drums=levels_pb2.DRUMS_UNWANTED),
        S(type="chorus", bars=2, energy=0.75, drums=levels_pb2.DRUMS_WANTED, modal_interchange=True),
        S(type="chorus", bars=2, energy=1.0, displacement=True),
    ])


class BundledSemantic(InProcessLevel):
    """Serves until stop()."""

    def __init__(self) -> None:
        super().__init__(add_to_server, MiniLMPlanner(bundled_checkpoint("semantic"), torch.device("cpu")))
