from __future__ import annotations

import numpy as np
import pytest

from hiermusic.services.common.chunk_layout import PlanArrays, chunk_context, layout
from hiermusic.v1 import levels_pb2
from hiermusic.services.common.chunk_context import decode_context
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.tensors import TensorError, encode

SPACE = TokenSpaceConfig()


def context(**plan_fields) -> levels_pb2.ChunkContext:
    plan = PlanArrays(
        semantic_tokens=np.zeros(40, dtype=np.int64), frame_sections=np.zeros(40, dtype=np.int64),
        section_embeddings=np.ones((1, 256), dtype=np.float32), section_energy=np.array([0.5], dtype=np.float32),
        text_embedding=np.ones(256, dtype=np.float32), **plan_fields,
    )
    return chunk_context(plan, layout(160, 100, 20)[1], SPACE, margin_s=0.5)


def test_beats_and_drums_arrive_as_the_scheduler_sent_them():
    sent = context(beats=np.arange(0, 4, 0.5, dtype=np.float32), downbeats=np.arange(0, 4, 2.0, dtype=np.float32),
                   drums=levels_pb2.DRUMS_UNWANTED)
    got = decode_context(sent, SPACE, 500)
    assert got.frame_beats.shape == (80, 2)
    np.testing.assert_allclose(got.frame_beats[0], [3.2, 0.8], rtol=1e-6)  # frame 80: 1.6 s
    assert got.drums == levels_pb2.DRUMS_UNWANTED
    plain = decode_context(context(), SPACE, 500)
    assert plain.frame_beats is None and plain.drums == levels_pb2.DRUMS_UNSAID


def test_a_bad_beat_grid_or_drums_value_is_refused():
    sent = context(beats=np.arange(0, 4, 0.5, dtype=np.float32), downbeats=np.arange(0, 4, 2.0, dtype=np.float32))
    sent.frame_beats.CopyFrom(encode(np.zeros((79, 2), np.float32)))
    with pytest.raises(TensorError, match="frame_beats"):
        decode_context(sent, SPACE, 500)
    odd = context()
    odd.drums = 7
    with pytest.raises(TensorError, match="drums"):
        decode_context(odd, SPACE, 500)


def two_section_context(**plan_fields) -> levels_pb2.ChunkContext:
    """A chunk (codec frames 80..160) over two sections, the second from semantic frame 24."""
    sections = np.zeros(40, dtype=np.int64)
    sections[24:] = 1
    plan = PlanArrays(
        semantic_tokens=np.zeros(40, dtype=np.int64), frame_sections=sections,
        section_embeddings=np.ones((2, 256), dtype=np.float32), section_energy=np.array([0.2, 0.9], np.float32),
        text_embedding=np.ones(256, dtype=np.float32), **plan_fields,
    )
    return chunk_context(plan, layout(160, 100, 20)[1], SPACE, margin_s=0.5)


def test_each_sections_drums_and_rule_breaks_reach_the_level():
    sent = two_section_context(
        drums=levels_pb2.DRUMS_WANTED,
        section_drums=np.array([levels_pb2.DRUMS_UNWANTED, levels_pb2.DRUMS_WANTED]),
        section_modal_interchange=np.array([False, True]), section_displacement=np.array([False, False]),
    )
    got = decode_context(sent, SPACE, 500)
    assert got.drums_of_sections().tolist() == [levels_pb2.DRUMS_UNWANTED, levels_pb2.DRUMS_WANTED]
    assert got.rule_breaks == ("modal_interchange",)
    # From a scheduler that sends no per-section fields: the chunk's drums for every section, no rule-breaks.
    plain = decode_context(two_section_context(drums=levels_pb2.DRUMS_UNWANTED), SPACE, 500)
    assert plain.drums_of_sections().tolist() == [levels_pb2.DRUMS_UNWANTED] * 2 and plain.rule_breaks == ()


def test_per_frame_drums_follow_each_frames_section():
    from hiermusic.services.common.plan_context import PlanContext
    import torch

    sent = two_section_context(section_drums=np.array([levels_pb2.DRUMS_UNWANTED, levels_pb2.DRUMS_WANTED]))
    got = decode_context(sent, SPACE, 500)
    plan = PlanContext.from_chunks([got], got.num_frames, SPACE.frames_per_semantic, torch.device("cpu"))
    # Chunk frame 0 is codec frame 80; section 1 starts at semantic frame 24.
    switch = 24 * SPACE.frames_per_semantic - 80
    drums = plan.frame_drums[0].tolist()
    assert set(drums[:switch]) == {levels_pb2.DRUMS_UNWANTED} and set(drums[switch:]) == {levels_pb2.DRUMS_WANTED}


def test_per_section_fields_of_the_wrong_length_are_refused():
    sent = two_section_context()
    sent.section_drums.extend([levels_pb2.DRUMS_WANTED])
    with pytest.raises(TensorError, match="section_drums: 1 values for 2 sections"):
        decode_context(sent, SPACE, 500)
    sent = two_section_context()
    sent.section_displacement.extend([True, False, True])
    with pytest.raises(TensorError, match="section_displacement: 3 values for 2 sections"):
        decode_context(sent, SPACE, 500)
    sent = two_section_context()
    sent.section_drums.extend([1, 9])
    with pytest.raises(TensorError, match="not a Drums value"):
        decode_context(sent, SPACE, 500)
