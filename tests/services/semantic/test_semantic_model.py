from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from services.common.nn import TransformerConfig
from services.semantic.semantic_model import (
    PieceConditioning,
    SemanticConfig,
    SemanticTransformer,
    frame_layout,
    semantic_frames,
)

RATE = 12.5


@pytest.fixture(scope="module")
def model() -> SemanticTransformer:
    torch.manual_seed(0)
    config = SemanticConfig(transformer=TransformerConfig(dim=64, layers=2, heads=4, max_len=512))
    return SemanticTransformer(config).eval()


def _cond(types: list[int], frames: int = 100, energy: list[float] | None = None) -> PieceConditioning:
    s = len(types)
    starts = [i * frames / RATE / s for i in range(s)]  # equal sections
    ends = starts[1:] + [frames / RATE]
    layout = frame_layout(starts, ends, 2.0, frames, RATE)
    return PieceConditioning(
        text=F.normalize(torch.randn(1, 256, generator=torch.Generator().manual_seed(1)), dim=-1),
        key=torch.tensor([2]),
        mode=torch.tensor([1]),
        tempo_bpm=torch.tensor([120.0]),
        section_types=torch.tensor([types]),
        section_energy=torch.tensor([energy if energy is not None else [0.5] * s]),
        frame_sections=layout.frame_sections[None],
        section_position=layout.section_position[None],
        bar_position=layout.bar_position[None],
    )


def test_semantic_frames_is_ceil_without_float_noise() -> None:
    assert semantic_frames(1.2, RATE) == 15  # 1.2 * 12.5 == 15.000000000000002
    assert semantic_frames(0.1, RATE) == 2
    assert semantic_frames(600.0, RATE) == 7500


def test_frame_layout_places_each_frame_in_its_section() -> None:
    starts, ends = [0.0, 3.3, 10.0], [3.3, 10.0, 12.05]
    layout = frame_layout(starts, ends, 2.0, semantic_frames(12.05, RATE), RATE)
    assert layout.frame_sections.dtype == torch.int64 and len(layout.frame_sections) == 151
    for t, s in enumerate(layout.frame_sections.tolist()):
        assert starts[s] <= t / RATE < ends[s]
    assert layout.frame_sections.tolist() == sorted(layout.frame_sections.tolist())
    assert 0 <= float(layout.section_position.min()) and float(layout.section_position.max()) < 1
    assert 0 <= float(layout.bar_position.min()) and float(layout.bar_position.max()) < 1
    assert layout.bar_position[25].item() == pytest.approx(0.0)  # frame 25 = 2.0 s, a bar line


def test_repeated_types_share_a_section_embedding_whatever_their_energy(model: SemanticTransformer) -> None:
    emb = model.section_embeddings(_cond([0, 3, 1, 3], energy=[0.1, 0.5, 0.2, 1.0]))[0]
    assert emb.shape == (4, 256)
    assert torch.equal(emb[1], emb[3])
    assert not torch.allclose(emb[1], emb[2])


def test_teacher_forcing_is_causal_and_trainable(model: SemanticTransformer) -> None:
    cond = _cond([0, 3, 1])
    tokens = torch.randint(0, 512, (1, 100), generator=torch.Generator().manual_seed(0))
    logits = model(tokens, cond)
    assert logits.shape == (1, 100, 512)
    changed = tokens.clone()
    changed[0, 50] = (changed[0, 50] + 1) % 512
    again = model(changed, cond)
    assert torch.allclose(again[:, :51], logits[:, :51], atol=1e-5)  # token 50 feeds step 51 on
    assert not torch.allclose(again[:, 51:], logits[:, 51:])
    model.train()
    F.cross_entropy(model(tokens, cond).flatten(0, 1), tokens.flatten()).backward()
    model.eval()
    assert model.section_type.weight.grad is not None and model.head.weight.grad is not None
    model.zero_grad()


def test_padding_sections_are_masked_out(model: SemanticTransformer) -> None:
    cond = _cond([0, 3])
    padded = replace(
        cond,
        section_types=torch.tensor([[0, 3, 6]]),
        section_energy=torch.tensor([[0.5, 0.5, 0.9]]),
        section_mask=torch.tensor([[True, True, False]]),
    )
    tokens = torch.randint(0, 512, (1, 100), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model(tokens, padded), model(tokens, cond), atol=1e-5)


def test_generate_matches_the_full_pass_and_is_seeded(model: SemanticTransformer) -> None:
    cond = _cond([0, 3, 1, 3], frames=120)
    greedy = model.generate(cond, torch.Generator().manual_seed(0), 0.0, 0)
    assert greedy.shape == (120,) and greedy.dtype == torch.int64
    with torch.no_grad():
        assert torch.equal(model(greedy[None], cond)[0].argmax(-1), greedy)

    a = model.generate(cond, torch.Generator().manual_seed(4), 1.0, 50)
    b = model.generate(cond, torch.Generator().manual_seed(4), 1.0, 50)
    c = model.generate(cond, torch.Generator().manual_seed(5), 1.0, 50)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= int(a.min()) and int(a.max()) < 512
