from __future__ import annotations

import numpy as np
import torch

from hiermusic.services.acoustic.thematic_attention import MemoryBatch, ThematicAttention
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.thematic_memory import MemoryInputs

SPACE = TokenSpaceConfig(codebook_size=16, summary_dim=8)
CPU = torch.device("cpu")


def memory_batch() -> MemoryBatch:
    """Two chunks of 10 frames: the first hears 3 memory frames aligned with its frames 4..6, the second none."""
    codes = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
    return MemoryBatch.of([MemoryInputs(of_section=0, chunk_offset=4, codes=codes), None], 2, CPU)


def test_the_aligned_path_hands_each_frame_the_codes_aligned_with_it() -> None:
    torch.manual_seed(0)
    theme = ThematicAttention(SPACE, 8, 2, 16)
    memory = memory_batch()
    inputs = [torch.nn.Embedding(16, 8) for _ in range(2)]
    codes = sum(emb(memory.codes[:, k]) for k, emb in enumerate(inputs))
    aligned = theme.aligned(codes, memory, 10)
    assert aligned.shape == (2, 10, 8)
    for j, frame in enumerate((4, 5, 6)):
        expected = inputs[0].weight[1 + j] + inputs[1].weight[4 + j]
        assert torch.allclose(aligned[0, frame], expected)
    assert aligned[0, [0, 1, 2, 3, 7, 8, 9]].abs().sum() == 0 and aligned[1].abs().sum() == 0


def test_with_its_gates_shut_the_memory_changes_nothing_and_the_gates_learn_to_open() -> None:
    torch.manual_seed(0)
    theme = ThematicAttention(SPACE, 8, 2, 16)
    plan = torch.randn(2, 10, 8)
    inputs = [torch.nn.Embedding(16, 8) for _ in range(2)]
    out = theme(plan, memory_batch(), inputs)
    assert torch.equal(out, plan)
    out.pow(2).sum().backward()
    assert all(g.grad.abs() > 0 for g in theme.gates())
    theme.aligned_gate.data.fill_(1.0)
    opened = theme(plan, memory_batch(), inputs)
    assert not torch.equal(opened[0, 4:7], plan[0, 4:7]) and torch.equal(opened[0, :4], plan[0, :4])
    assert torch.equal(opened[1], plan[1])  # a chunk with no memory hears none
