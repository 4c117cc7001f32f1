from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from hiermusic.corpus.labels import SectionLabel
from hiermusic.v1 import levels_pb2
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.semantic.label_plans import SemanticPlanConditioner, form_of
from tests.corpus.short_song import short_song

CPU = torch.device("cpu")


def test_plans_carry_energy_on_the_planner_s_bins_as_a_served_plan_does() -> None:
    song = replace(short_song("e"), sections=[SectionLabel("verse", 0.0, 1.0, 2, 0.3),
                                          SectionLabel("chorus", 1.0, 2.08, 2, 0.9, repeat_of=0)])
    conditioner = SemanticPlanConditioner(None, TokenSpaceConfig(), CPU)
    form = form_of(song, conditioner.semantic.model.planner)
    assert [s.energy for s in form.sections] == [0.25, 1.0]
    assert [s.repeat_of for s in form.sections] == [0, 1]  # each type's first section
    plan, = conditioner.plans([song], [np.arange(26)])
    assert plan.section_energy.tolist() == [0.25, 1.0]
    assert plan.frame_sections.tolist() == [0] * 13 + [1] * 13
    assert plan.section_embeddings.shape == (2, TokenSpaceConfig().embedding_dim)


def test_plans_carry_the_labelled_beats_and_drums() -> None:
    song = replace(short_song("b"), beats=[0.25, 0.75, 1.25, 1.75], downbeats=[0.25, 2.25], drums=True)
    conditioner = SemanticPlanConditioner(None, TokenSpaceConfig(), CPU)
    plan, quiet = conditioner.plans([song, replace(song, drums=False)], [np.arange(26)] * 2)
    assert plan.beats.tolist() == [0.25, 0.75, 1.25, 1.75] and plan.downbeats.tolist() == [0.25, 2.25]
    assert (plan.drums, quiet.drums) == (levels_pb2.DRUMS_WANTED, levels_pb2.DRUMS_UNWANTED)
