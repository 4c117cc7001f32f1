from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.common.plan_encoder import PlanEncoder
from tests.services.common.test_plan_context import CPU, FPS, chunk


def test_the_memory_holds_text_sections_and_tokens_with_padding_masked() -> None:
    torch.manual_seed(0)
    encoder = PlanEncoder(TokenSpaceConfig(), 32, semantic_positions=64, semantic_margin=16).eval()
    a, b = chunk(start=0, sections=1, seed=1), chunk(start=400, sections=3, seed=2)
    both = PlanContext.from_chunks([a, b], 60, FPS, CPU)
    memory, mask = encoder(both)
    assert memory.shape == (2, 1 + 3 + both.semantic.shape[1], 32) and mask.shape == memory.shape[:2]
    assert mask[:, 0].all() and mask[0, 1:4].tolist() == [True, False, False]
    with torch.no_grad():
        alone, alone_mask = encoder(PlanContext.from_chunks([a], 60, FPS, CPU))
    real = mask[0]
    torch.testing.assert_close(memory[0, real], alone[0, alone_mask[0]])
    # The sections' energy is heard.
    louder = replace(a, section_energy=a.section_energy + 0.5)
    assert not torch.allclose(encoder(PlanContext.from_chunks([louder], 60, FPS, CPU))[0][0, 1], alone[0, 1])


def test_positions_beyond_the_learned_range_are_clipped_not_refused() -> None:
    encoder = PlanEncoder(TokenSpaceConfig(), 32, semantic_positions=64, semantic_margin=16)
    c = chunk(start=1600)
    wide = replace(c, semantic_start=0, semantic_tokens=np.resize(c.semantic_tokens, 600),
                   frame_sections=np.zeros(600, dtype=np.int64))
    memory, _ = encoder(PlanContext.from_chunks([wide], 60, FPS, CPU))
    first, last = encoder.semantic_pos.weight[0], encoder.semantic_pos.weight[63]
    token = encoder.semantic.weight[wide.semantic_tokens]
    semantic = 1 + len(wide.section_embeddings)  # after the text and the sections
    torch.testing.assert_close(memory[0, semantic] - token[0], first)  # 400 tokens before the chunk: clipped
    torch.testing.assert_close(memory[0, -1] - token[-1], last)
