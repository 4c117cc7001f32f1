from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs


@pytest.fixture
def make_chunk() -> Callable[..., ChunkInputs]:
    """A plausible chunk context: `num_frames` frames from `start_frame`, the
    semantic window covering them with a margin of 4 tokens either side."""

    def make(num_frames: int = 100, start_frame: int = 200, sections: int = 2, seed: int = 0) -> ChunkInputs:
        ts = TokenSpaceConfig()
        rng = np.random.default_rng(seed)
        fps = ts.frames_per_semantic
        semantic_start = max(0, start_frame // fps - 4)
        count = (start_frame + num_frames) // fps + 4 - semantic_start
        return ChunkInputs(
            chunk_index=1,
            start_frame=start_frame,
            num_frames=num_frames,
            semantic_start=semantic_start,
            semantic_tokens=rng.integers(0, ts.semantic_vocab_size, count),
            frame_sections=np.sort(rng.integers(0, sections, count)),
            section_embeddings=rng.standard_normal((sections, ts.embedding_dim)).astype(np.float32),
            text_embedding=rng.standard_normal(ts.embedding_dim).astype(np.float32),
            section_energy=rng.random(sections).astype(np.float32),
        )

    return make
