from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs
from hiermusic.services.common.plan_context import DISPLACEMENT_BEATS, PlanContext

CPU = torch.device("cpu")
FPS = TokenSpaceConfig().frames_per_semantic  # 4 codec frames a semantic token
E = TokenSpaceConfig().embedding_dim


def chunk(frames: int = 60, start: int = 200, sections: int = 2, seed: int = 0) -> ChunkInputs:
    """`frames` frames from `start`, the semantic window 4 tokens wider each side."""
    rng = np.random.default_rng(seed)
    semantic_start = max(0, start // FPS - 4)
    count = (start + frames) // FPS + 4 - semantic_start
    return ChunkInputs(chunk_index=1, start_frame=start, num_frames=frames, semantic_start=semantic_start,
                       semantic_tokens=rng.integers(0, 512, count),
                       frame_sections=np.sort(rng.integers(0, sections, count)),
                       section_embeddings=rng.standard_normal((sections, E)).astype(np.float32),
                       text_embedding=rng.standard_normal(E).astype(np.float32),
                       section_energy=rng.random(sections).astype(np.float32))


def test_frames_align_with_their_semantic_token_and_section() -> None:
    c = chunk(start=200)
    plan = PlanContext.from_chunks([c], 60, FPS, CPU)
    expected = np.clip((200 + np.arange(60)) // FPS - c.semantic_start, 0, len(c.semantic_tokens) - 1)
    assert plan.frame_semantic[0].tolist() == expected.tolist()
    assert plan.frame_section[0].tolist() == c.frame_sections[expected].tolist()
    # Semantic positions count from the chunk's own first token, whatever the window's margin.
    assert plan.semantic_offset[0, 0] == c.semantic_start - 200 // FPS == -4
    assert plan.drums.tolist() == [0] and plan.frame_beats.isnan().all()


def test_a_batch_pads_sections_tokens_and_frames_and_marks_what_is_real() -> None:
    grid = np.stack([np.arange(40) / 25, np.arange(40) / 50], axis=1).astype(np.float32)
    short = replace(chunk(frames=40, start=0, sections=1, seed=1), frame_beats=grid, drums=2)
    long = chunk(frames=60, start=400, sections=3, seed=2)
    plan = PlanContext.from_chunks([short, long], 60, FPS, CPU)
    assert plan.section_mask.tolist() == [[True, False, False], [True, True, True]]
    assert plan.semantic_mask.sum(1).tolist() == [len(short.semantic_tokens), len(long.semantic_tokens)]
    assert plan.sections.shape == (2, 3, E) and plan.semantic.shape[1] == len(long.semantic_tokens)
    # Frames past the short chunk's end read on into its window (no further) and have no beat grid.
    assert plan.frame_semantic[0, 40:].tolist() == [10] * 4 + [11] * 4 + [12] * 4 + [13] * 8
    torch.testing.assert_close(plan.frame_beats[0, :40], torch.from_numpy(grid))
    assert plan.frame_beats[0, 40:].isnan().all() and plan.frame_beats[1].isnan().all()
    assert plan.drums.tolist() == [2, 0]


def test_a_chunk_without_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="no semantic tokens or no sections"):
        PlanContext.from_chunks([replace(chunk(), section_embeddings=np.zeros((0, E), np.float32))], 60, FPS, CPU)


def test_a_displaced_sections_frames_read_the_grid_half_a_beat_behind() -> None:
    # 120 bpm at 50 frames/s: a beat every 25 frames, a bar every 100.
    grid = (np.stack([np.arange(60) / 25, np.arange(60) / 100], axis=1) + [8.0, 2.0]).astype(np.float32)
    plain = replace(chunk(start=200), frame_beats=grid)
    moved = replace(plain, section_displaced=np.array([False, True]))
    got = PlanContext.from_chunks([plain, moved], 60, FPS, CPU)
    torch.testing.assert_close(got.frame_beats[0], torch.from_numpy(grid))  # no flag: the piece's grid
    in_displaced = (got.frame_section[1] == 1).numpy()
    assert in_displaced.any() and not in_displaced.all()
    shift = (got.frame_beats[0] - got.frame_beats[1]).numpy()
    np.testing.assert_allclose(shift[in_displaced], [[DISPLACEMENT_BEATS, DISPLACEMENT_BEATS / 4]] * in_displaced.sum(),
                               rtol=1e-4)
    assert (shift[~in_displaced] == 0).all()
