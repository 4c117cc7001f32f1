from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hiermusic.services.common.chunk_layout import (
    Chunk, PlanArrays, beat_positions, chunk_context, frame_beats, layout, max_semantic_tokens, semantic_frames,
    semantic_span,
)
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.limits import MAX_SEMANTIC_MARGIN_S
from hiermusic.services.common.tensors import decode


def test_layout_covers_the_piece_with_overlaps():
    chunks = layout(2000, 250, 50)  # 40 s at 50 frames/s
    assert len(chunks) == 10 and chunks[0].start == 0 and chunks[-1].end == 2000
    assert all(b.start == a.end - 50 and b.overlap == 50 for a, b in zip(chunks, chunks[1:]))
    assert layout(100, 250, 50) == [layout(100, 250, 50)[0]] and layout(100, 250, 50)[0].end == 100
    with pytest.raises(ValueError):
        layout(100, 50, 50)


def test_a_short_first_chunk_then_full_chunks():
    chunks = layout(600, 250, 50, first_frames=100)
    assert [(c.start, c.end, c.overlap) for c in chunks] == [(0, 100, 0), (50, 300, 50), (250, 500, 50), (450, 600, 50)]
    assert layout(600, 250, 50, first_frames=400) == layout(600, 250, 50)  # never longer than a chunk
    assert layout(60, 250, 50, first_frames=100) == [layout(60, 250, 50)[0]]
    with pytest.raises(ValueError, match="shorter than the chunk"):
        layout(600, 250, 50, first_frames=50)


def test_semantic_frames_is_ceil_without_float_noise():
    assert semantic_frames(1.2, 12.5) == 15  # 1.2 * 12.5 == 15.000000000000002
    assert semantic_frames(0.1, 12.5) == 2
    assert semantic_frames(600.0, 12.5) == 7500


def test_chunk_context_slices_the_plan():
    space = TokenSpaceConfig()
    plan = PlanArrays(
        semantic_tokens=np.arange(150, dtype=np.int64),
        frame_sections=np.repeat([0, 1, 2], 50),
        section_embeddings=np.eye(3, 256, dtype=np.float32),
        section_energy=np.array([0.1, 0.5, 0.9], dtype=np.float32),
        text_embedding=np.ones(256, dtype=np.float32),
    )
    chunk = layout(600, 250, 50)[1]  # frames 200..450 -> semantic 50..112
    ctx = chunk_context(plan, chunk, space, margin_s=0.0)
    tokens = decode(ctx.semantic_tokens, "t", 2, [None])
    assert ctx.semantic_start == 50 and tokens[0] == 50 and tokens[-1] == 112
    assert list(ctx.section_energy) == pytest.approx([0.5, 0.9])  # only the sections it touches
    local = decode(ctx.frame_sections, "f", 2, [len(tokens)])
    assert set(local.tolist()) == {0, 1}
    wide = chunk_context(plan, chunk, space, margin_s=1.0)  # 12 semantic frames each side
    assert wide.semantic_start == 38 and len(wide.section_energy) == 3
    assert not ctx.HasField("frame_beats")  # this plan has no beat grid


def test_chunk_context_needs_the_plan_only_up_to_its_span():
    space = TokenSpaceConfig()
    plan = PlanArrays(
        semantic_tokens=np.arange(60, dtype=np.int64),  # 150 frames planned, 60 streamed in so far
        frame_sections=np.repeat([0, 1, 2], 50),
        section_embeddings=np.eye(3, 256, dtype=np.float32),
        section_energy=np.array([0.1, 0.5, 0.9], dtype=np.float32),
        text_embedding=np.ones(256, dtype=np.float32),
    )
    first, second = layout(600, 250, 50, 100)[:2]  # frames 0..100 and 50..300
    assert semantic_span(first, space, 1.0, 150) == (0, 37)
    assert decode(chunk_context(plan, first, space, 1.0).semantic_tokens, "t", 2, [None]).tolist() == list(range(37))
    assert semantic_span(second, space, 1.0, 150) == (0, 87)
    with pytest.raises(ValueError, match="up to frame 87, 60 are planned"):
        chunk_context(plan, second, space, 1.0)


def test_beat_positions_count_beats_and_carry_the_grid_past_its_ends():
    beats = np.array([0.25, 0.75, 1.25, 1.75])  # 120 bpm after a quarter-second pickup
    at = beat_positions(beats, np.array([0.0, 0.25, 0.5, 1.75, 2.0]))
    np.testing.assert_allclose(at, [-0.5, 0.0, 0.5, 3.0, 3.5])
    uneven = beat_positions(np.array([0.0, 1.0, 1.5]), np.array([0.5, 1.25]))  # the tempo doubles at 1 s
    np.testing.assert_allclose(uneven, [0.5, 1.5])


def test_chunk_context_carries_each_frame_s_place_in_the_beat_grid():
    space = TokenSpaceConfig()  # 50 frames/s
    plan = PlanArrays(
        semantic_tokens=np.zeros(150, dtype=np.int64),
        frame_sections=np.zeros(150, dtype=np.int64),
        section_embeddings=np.eye(1, 256, dtype=np.float32),
        section_energy=np.array([0.5], dtype=np.float32),
        text_embedding=np.ones(256, dtype=np.float32),
        beats=np.arange(0, 13, 0.5, dtype=np.float32),  # 120 bpm, 4/4
        downbeats=np.arange(0, 13, 2.0, dtype=np.float32),
    )
    chunk = layout(600, 250, 50)[1]  # frames 200..450: 4 s to 9 s
    beats = decode(chunk_context(plan, chunk, space, margin_s=1.0).frame_beats, "b", 1, [250, 2])
    np.testing.assert_allclose(beats[0], [8.0, 2.0])  # 4 s: the ninth beat, the third bar's first
    np.testing.assert_allclose(beats[25], [9.0, 2.25], rtol=1e-6)  # half a second later
    assert frame_beats(replace(plan, beats=plan.beats[:1]), chunk, 50.0) is None  # one beat is no grid


def test_the_bound_on_a_context_s_tokens_is_the_widest_span_a_scheduler_sends():
    space = TokenSpaceConfig()
    for frames in (1, 100, 250, 503, 504):
        widest = max(np.subtract(*semantic_span(Chunk(0, start, start + frames, 0), space, MAX_SEMANTIC_MARGIN_S,
                                                7500)[::-1]) for start in range(400, 420))
        assert widest == max_semantic_tokens(space, frames), frames
    with pytest.raises(ValueError, match="semantic_margin_s 5.5: expected 0 to 5 seconds"):
        semantic_span(Chunk(0, 0, 100, 0), space, MAX_SEMANTIC_MARGIN_S + 0.5, 7500)
