from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from hiermusic.corpus.labels import SectionLabel, SongLabels
from hiermusic.v1 import levels_pb2
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.semantic.label_plans import PlanConditioner, form_of, plannable

CPU = torch.device("cpu")


def labels(song_id: str) -> SongLabels:
    return SongLabels(
        song_id=song_id, source="synthetic", caption="a short test song", duration_s=2.08,
        sections=[SectionLabel("verse", 0.0, 1.04, 2, 0.25), SectionLabel("chorus", 1.04, 2.08, 2, 0.75)],
        tempo_bpm=120.0, key="C", mode="major",
    )


def test_labels_a_plan_cannot_have_get_the_planner_s_defaults() -> None:
    score = replace(labels("s"), key="H", mode="aeolian", tempo_bpm=None,
                    sections=[SectionLabel("phrase", 0.0, 1.0, 0, -1.0), SectionLabel("chorus", 1.0, 2.08, 2, 0.9)])
    filled = plannable(score)
    assert (filled.key, filled.mode, filled.tempo_bpm) == ("C", "major", 120.0)
    assert [(s.type, s.bars, s.energy) for s in filled.sections] == [("verse", 1, 0.5), ("chorus", 2, 0.9)]
    assert plannable(labels("fine")) == labels("fine")
    bare = plannable(replace(labels("u"), sections=[]))
    assert [(s.type, s.start_s, s.end_s) for s in bare.sections] == [("verse", 0.0, bare.duration_s)]


def test_plans_carry_energy_on_the_planner_s_bins_as_a_served_plan_does() -> None:
    song = replace(labels("e"), sections=[SectionLabel("verse", 0.0, 1.0, 2, 0.3),
                                          SectionLabel("chorus", 1.0, 2.08, 2, 0.9, repeat_of=0)])
    conditioner = PlanConditioner(None, TokenSpaceConfig(), CPU)
    form = form_of(song, conditioner.semantic.model.planner)
    assert [s.energy for s in form.sections] == [0.25, 1.0]
    assert [s.repeat_of for s in form.sections] == [0, 1]  # each type's first section
    plan, = conditioner.plans([song], [np.arange(26)])
    assert plan.section_energy.tolist() == [0.25, 1.0]
    assert plan.frame_sections.tolist() == [0] * 13 + [1] * 13
    assert plan.section_embeddings.shape == (2, TokenSpaceConfig().embedding_dim)


def test_plans_carry_the_labelled_beats_and_drums() -> None:
    song = replace(labels("b"), beats=[0.25, 0.75, 1.25, 1.75], downbeats=[0.25, 2.25], drums=True)
    conditioner = PlanConditioner(None, TokenSpaceConfig(), CPU)
    plan, quiet = conditioner.plans([song, replace(song, drums=False)], [np.arange(26)] * 2)
    assert plan.beats.tolist() == [0.25, 0.75, 1.25, 1.75] and plan.downbeats.tolist() == [0.25, 2.25]
    assert (plan.drums, quiet.drums) == (levels_pb2.DRUMS_WANTED, levels_pb2.DRUMS_UNWANTED)
