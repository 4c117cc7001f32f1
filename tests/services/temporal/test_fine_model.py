from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import pytest
import torch

from services.common.level import ChunkInputs
from services.common.nn import TransformerConfig
from services.temporal.fine_model import FineConfig, FineTransformer, PlanContext

CPU = torch.device("cpu")
T = 60  # frames per test chunk
FPS = 4  # frames per semantic token in the default token space


@pytest.fixture(scope="module")
def model() -> FineTransformer:
    torch.manual_seed(0)
    config = FineConfig(transformer=TransformerConfig(dim=64, layers=2, heads=4, max_len=128))
    return FineTransformer(config).eval()


@pytest.fixture
def plan(make_chunk: Callable[..., ChunkInputs]) -> PlanContext:
    return PlanContext.from_chunks([make_chunk(T)], T, FPS, CPU)


def codes(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 1024, shape, generator=torch.Generator().manual_seed(seed))


def generate(model: FineTransformer, plan: PlanContext, *, summary=None, prefix=None, seed=0, coarse_seed=0):
    with torch.inference_mode():
        g = torch.Generator().manual_seed(seed)
        return model.generate(codes((1, 2, T), coarse_seed), plan, summary, prefix, 1.0, 50, g)


def test_frames_align_with_their_semantic_token(make_chunk: Callable[..., ChunkInputs]) -> None:
    chunk = make_chunk(T, start_frame=200)
    plan = PlanContext.from_chunks([chunk], T, FPS, CPU)
    expected = np.clip((200 + np.arange(T)) // FPS - chunk.semantic_start, 0, len(chunk.semantic_tokens) - 1)
    assert plan.frame_semantic[0].tolist() == expected.tolist()
    assert plan.frame_section[0].tolist() == chunk.frame_sections[expected].tolist()
    # Semantic positions count from the chunk's own first token, whatever the window's margin.
    assert plan.semantic_offset[0, 0] == chunk.semantic_start - 200 // FPS < 0


def test_teacher_forced_logits(model: FineTransformer, plan: PlanContext) -> None:
    logits, hidden = model(codes((1, 8, T)), 5, plan, prefix_len=10)
    assert logits.shape == (1, T, 1024)
    assert model.summarize(hidden).shape == (1, 8, 256)
    with pytest.raises(ValueError, match="level"):
        model(codes((1, 8, T)), 1, plan)


def test_training_step_reaches_every_part(model: FineTransformer, plan: PlanContext) -> None:
    model.train()
    try:
        target = codes((1, 8, T))
        logits, hidden = model(target, 7, plan, summary=torch.randn(1, 8, 256), prefix_len=10)
        loss = torch.nn.functional.cross_entropy(logits[0, 10:], target[0, 7, 10:]) + model.summarize(hidden).pow(2).mean()
        model.zero_grad()
        loss.backward()
        for name in ("transformer.pos.weight", "summary_in.weight", "semantic_pos.weight", "energy_proj.weight"):
            assert model.get_parameter(name).grad.abs().sum() > 0, name
    finally:
        model.eval()


def test_generate_shapes_and_determinism(model: FineTransformer, plan: PlanContext) -> None:
    fine, summary = generate(model, plan, seed=3)
    assert fine.shape == (1, 6, T) and fine.dtype == torch.int64
    assert summary.shape == (1, 8, 256)
    again, _ = generate(model, plan, seed=3)
    other, _ = generate(model, plan, seed=4)
    assert torch.equal(fine, again)
    assert not torch.equal(fine, other)


def test_prefix_is_kept_and_heard(model: FineTransformer, plan: PlanContext) -> None:
    prefix = codes((1, 6, 12), seed=9)
    fine, summary = generate(model, plan, prefix=prefix)
    assert torch.equal(fine[..., :12], prefix)
    _, summary_other = generate(model, plan, prefix=codes((1, 6, 12), seed=10))
    assert not torch.allclose(summary, summary_other)


def test_summary_in_changes_the_output(model: FineTransformer, plan: PlanContext) -> None:
    fine_a, out_a = generate(model, plan, summary=torch.randn(1, 8, 256, generator=torch.Generator().manual_seed(1)))
    fine_b, out_b = generate(model, plan, summary=torch.randn(1, 8, 256, generator=torch.Generator().manual_seed(2)))
    fine_none, _ = generate(model, plan)
    assert not torch.equal(fine_a, fine_b) and not torch.equal(fine_a, fine_none)
    assert not torch.allclose(out_a, out_b)


def test_padded_batch_matches_single_chunks(model: FineTransformer, make_chunk: Callable[..., ChunkInputs]) -> None:
    """Padding of sections and semantic tokens is masked out of cross-attention."""
    a, b = make_chunk(T, start_frame=0, sections=1, seed=1), make_chunk(T, start_frame=400, sections=3, seed=2)
    both = PlanContext.from_chunks([a, b], T, FPS, CPU)
    target = codes((2, 8, T))
    with torch.inference_mode():
        batched, _ = model(target, 4, both)
        for i, chunk in enumerate((a, b)):
            single, _ = model(target[i : i + 1], 4, PlanContext.from_chunks([chunk], T, FPS, CPU))
            torch.testing.assert_close(batched[i : i + 1], single, atol=1e-4, rtol=1e-4)


def test_a_wide_semantic_window_is_clipped_not_refused(
    model: FineTransformer, make_chunk: Callable[..., ChunkInputs]
) -> None:
    chunk = make_chunk(T, start_frame=1600)
    tokens = np.resize(chunk.semantic_tokens, 600)
    wide = replace(chunk, semantic_start=0, semantic_tokens=tokens, frame_sections=np.zeros(600, dtype=np.int64))
    logits, _ = model(codes((1, 8, T)), 2, PlanContext.from_chunks([wide], T, FPS, CPU))
    assert torch.isfinite(logits).all()


def test_teacher_forced_matches_the_level_by_level_passes(model: FineTransformer, plan: PlanContext) -> None:
    """Training's one batched pass over all fine levels is `forward` per level,
    and its summary is the one `generate` pools from the last level."""
    target, summary = codes((1, 8, T), seed=3), torch.randn(1, 8, 256, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        logits, summary_out = model.teacher_forced(target, plan, summary, prefix_len=10)
        assert logits.shape == (1, 6, T, 1024)
        for level in range(2, 8):
            single, hidden = model(target, level, plan, summary, prefix_len=10)
            torch.testing.assert_close(logits[:, level - 2], single, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(summary_out, model.summarize(hidden), atol=1e-5, rtol=1e-5)
        _, summary_none = model.teacher_forced(target, plan, None, prefix_len=10)
        assert not torch.allclose(summary_out, summary_none)
