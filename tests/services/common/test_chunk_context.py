from __future__ import annotations

import math
import re

import numpy as np
import pytest

from hiermusic.services.common.chunk_layout import (
    Chunk, PlanArrays, chunk_context, layout, max_semantic_tokens, semantic_frames,
)
from hiermusic.services.common.limits import MAX_SEMANTIC_MARGIN_S
from hiermusic.v1 import levels_pb2, tensor_pb2
from hiermusic.services.common.chunk_context import decode_context, decode_prefix
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
    assert got.rule_breaks == ("modal_interchange",) and got.section_displaced is None
    displaced = decode_context(two_section_context(section_displacement=np.array([False, True])), SPACE, 500)
    assert displaced.rule_breaks == ("displacement",) and displaced.section_displaced.tolist() == [False, True]
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


def longest_context(margin_s: float = MAX_SEMANTIC_MARGIN_S, start: int = 401) -> levels_pb2.ChunkContext:
    """The longest chunk (504 frames, the default acoustic model's) in a 60 s piece, starting
    inside a semantic token, at the widest margin: the most tokens a scheduler can send."""
    tokens = semantic_frames(60.0, SPACE.semantic_rate)
    plan = PlanArrays(
        semantic_tokens=np.zeros(tokens, dtype=np.int64), frame_sections=np.arange(tokens, dtype=np.int64) % 5,
        section_embeddings=np.ones((5, 256), dtype=np.float32), section_energy=np.full(5, 0.5, np.float32),
        text_embedding=np.ones(256, dtype=np.float32),
    )
    return chunk_context(plan, Chunk(1, start, start + 504, 0), SPACE, margin_s)


def test_a_context_carries_at_most_the_tokens_its_longest_chunk_needs():
    # The measure: 100k tokens took the acoustic level 9.7 s and 0.66 GB.
    most = max_semantic_tokens(SPACE, 504)
    sent = longest_context()
    assert len(sent.semantic_tokens.shape) == 1 and sent.semantic_tokens.shape[0] == most == 251
    assert decode_context(sent, SPACE, 504).semantic_tokens.shape == (most,)
    for tokens in (most + 1, 100_000):
        sent.semantic_tokens.CopyFrom(encode(np.zeros(tokens, np.int64)))
        sent.frame_sections.CopyFrom(encode(np.zeros(tokens, np.int64)))
        with pytest.raises(TensorError, match=f"context.semantic_tokens: {tokens} along dimension 0, at most 251 "
                                              r"\(a chunk of 504 frames with 5 s of plan each side\)"):
            decode_context(sent, SPACE, 504)
    # Checked from the shape: 10**9 tokens announced with no data are refused for their number.
    sent.semantic_tokens.CopyFrom(tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT64, shape=[10**9]))
    with pytest.raises(TensorError, match="context.semantic_tokens: 1000000000 along dimension 0, at most 251"):
        decode_context(sent, SPACE, 504)


def test_a_context_touches_at_most_one_section_per_token():
    sent = context()  # 26 tokens
    sent.section_embeddings.CopyFrom(encode(np.ones((27, 256), np.float32)))
    with pytest.raises(TensorError, match=r"context.section_embeddings: 27 along dimension 0, at most 26 "
                                          r"\(one section per semantic token\)"):
        decode_context(sent, SPACE, 500)


@pytest.mark.parametrize(("field", "value", "words"), [
    ("start_frame", 30_000 - 79, "context.start_frame: 29921 + 80 frames ends past the longest piece (30000 frames"),
    ("start_frame", 2**63 - 50, "ends past the longest piece"),
    ("semantic_start", 7500, "context.semantic_start: 7500 lies past the longest piece (600 s)"),
])
def test_a_context_lies_inside_the_longest_piece(field, value, words):
    sent = context()
    setattr(sent, field, value)
    with pytest.raises(TensorError, match=re.escape(words)):
        decode_context(sent, SPACE, 500)


@pytest.mark.parametrize("energy", [-0.1, 1.5, 3e38, math.nan, math.inf])
def test_a_section_energy_outside_0_to_1_is_refused(energy):
    sent = context()
    sent.section_energy[0] = energy
    with pytest.raises(TensorError, match=r"context.section_energy: values must lie in 0..1"):
        decode_context(sent, SPACE, 500)


def test_a_prefix_is_refused_for_its_length_before_its_data_is_read():
    announced = tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT64, shape=[2, 10**8])
    with pytest.raises(TensorError, match=r"prefix_tokens: 100000000 along dimension 1, at most 99 "
                                          r"\(a prefix must leave frames to generate in 100\)"):
        decode_prefix(announced, "prefix_tokens", 2, SPACE, 100)
    assert decode_prefix(encode(np.zeros((2, 99), np.int64)), "prefix_tokens", 2, SPACE, 100).shape == (2, 99)


def test_the_last_chunk_of_the_longest_piece_is_taken():
    sent = context()
    sent.start_frame, sent.semantic_start = 30_000 - sent.num_frames, 7499
    assert decode_context(sent, SPACE, 500).start_frame == 29_920
