"""Thematic memory's alignment: the frames a chunk writes of a return are
given the first occurrence's frames as many bars from its start, clipped to
what exists before the chunk and to the level's bound."""
from __future__ import annotations

import numpy as np

from hiermusic.services.common.chunk_layout import Chunk, PlanArrays
from hiermusic.services.common.tensors import decode
from hiermusic.services.common.thematic_memory import memory_span, thematic_memory
from hiermusic.v1 import tensor_pb2

FR = 50.0  # frames per second; at 120 bpm in 4/4 a bar is 2 s, 100 frames


def plan(spans: list[tuple[float, float]], repeat_of: list[int], downbeats: list[float] | None = None) -> PlanArrays:
    end = spans[-1][1]
    bars = np.arange(0.0, end + 2.0, 2.0) if downbeats is None else np.asarray(downbeats)
    return PlanArrays(
        semantic_tokens=np.zeros(0, np.int64), frame_sections=np.zeros(0, np.int64),
        section_embeddings=np.zeros((len(spans), 4), np.float32), section_energy=np.zeros(len(spans), np.float32),
        text_embedding=np.zeros(4, np.float32), downbeats=bars.astype(np.float32),
        section_start_s=np.array([a for a, _ in spans]), section_end_s=np.array([b for _, b in spans]),
        section_repeat_of=np.array(repeat_of, np.int64),
    )


# verse, chorus, verse, chorus of 4 bars (8 s, 400 frames) each.
FORM = plan([(0, 8), (8, 16), (16, 24), (24, 32)], [0, 1, 0, 1])


def test_a_chunk_inside_a_return_hears_the_first_occurrence_at_the_same_bar():
    span = memory_span(FORM, Chunk(4, 780, 1030, 50), FR, 504)
    # It writes frames 830..1029, 0.6 s into the second verse and on: the first verse's frames 30..229.
    assert (span.of_section, span.chunk_offset) == (0, 50)
    assert span.source.tolist() == list(range(30, 230))


def test_a_chunk_that_starts_a_return_hears_only_the_part_it_covers():
    span = memory_span(FORM, Chunk(3, 700, 950, 50), FR, 504)
    # Frames 750..799 are the first chorus (no memory); 800..949 open the second verse.
    assert (span.of_section, span.chunk_offset) == (0, 100)
    assert span.source.tolist() == list(range(0, 150))


def test_a_chunk_across_two_returns_hears_the_one_it_covers_most():
    span = memory_span(FORM, Chunk(5, 1100, 1350, 50), FR, 504)
    # 50 written frames end the second verse, 150 open the second chorus.
    assert (span.of_section, span.chunk_offset) == (1, 100)
    assert span.source.tolist() == list(range(400, 550))


def test_first_occurrences_and_plans_without_returns_send_none():
    assert memory_span(FORM, Chunk(1, 200, 450, 50), FR, 504) is None
    assert memory_span(FORM, Chunk(2, 400, 650, 50), FR, 504) is None  # ends in the first chorus
    no_returns = plan([(0, 8), (8, 16)], [0, 1])
    assert memory_span(no_returns, Chunk(2, 400, 650, 50), FR, 504) is None
    assert memory_span(FORM, Chunk(4, 780, 1030, 50), FR, 0) is None  # a level that takes none


def test_the_memory_is_clipped_to_the_bound():
    span = memory_span(FORM, Chunk(4, 780, 1030, 50), FR, 64)
    assert span.chunk_offset == 50 and span.source.tolist() == list(range(30, 94))


def test_first_occurrence_frames_not_made_before_the_chunk_are_clipped():
    # Two 2-bar choruses back to back; the chunk writes frames 100..329 and
    # only frames before 100 exist when it is asked for.
    back_to_back = plan([(0, 4), (4, 8)], [0, 0])
    span = memory_span(back_to_back, Chunk(1, 80, 330, 20), FR, 504)
    assert (span.of_section, span.chunk_offset) == (0, 120)
    assert span.source.tolist() == list(range(0, 100))
    # The first chunk writes the start of the return, but nothing of the first chorus exists yet.
    assert memory_span(back_to_back, Chunk(0, 0, 250, 0), FR, 504) is None


def test_a_return_longer_than_its_first_occurrence_is_clipped_at_its_end():
    longer = plan([(0, 2), (2, 4), (4, 10)], [0, 1, 0])  # a 1-bar verse returns for 3 bars
    span = memory_span(longer, Chunk(2, 180, 430, 20), FR, 504)
    # The return's frames 200..299 hear the verse's 0..99; 300..429 would be past its end.
    assert (span.of_section, span.chunk_offset) == (0, 20)
    assert span.source.tolist() == list(range(0, 100))


def test_alignment_follows_the_bars_not_the_seconds():
    # Two 2-s bars, then the return in two 1-s bars: half a bar into the return is 1 s into the first.
    faster = plan([(0, 4), (4, 6)], [0, 0], downbeats=[0, 2, 4, 5, 6])
    span = memory_span(faster, Chunk(1, 180, 300, 20), FR, 504)
    assert span.chunk_offset == 20 and span.source.tolist() == list(range(0, 200, 2))


def test_without_a_bar_grid_seconds_from_the_section_start_align():
    no_grid = plan([(0, 8), (8, 16), (16, 24)], [0, 1, 0], downbeats=[])
    assert memory_span(no_grid, Chunk(4, 780, 1030, 50), FR, 504).source.tolist() == list(range(30, 230))


def test_the_memory_carries_the_first_occurrence_s_codes():
    codes = np.stack([np.arange(1600), np.arange(1600) + 7]) % 1024
    memory = thematic_memory(FORM, Chunk(4, 780, 1030, 50), codes, FR, 504)
    assert (memory.of_section, memory.chunk_offset) == (0, 50)
    got = decode(memory.coarse_tokens, "memory.coarse_tokens", tensor_pb2.DTYPE_INT64, [2, 200])
    assert np.array_equal(got, codes[:, 30:230])
    assert thematic_memory(FORM, Chunk(1, 200, 450, 50), codes, FR, 504) is None
