from __future__ import annotations

from dataclasses import replace
from typing import Callable

import pytest
import torch

from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.common.checkpoint import load_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.config_dict import config_from_dict
from hiermusic.services.common.level import ChunkInputs
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.temporal.fine_model import FineConfig, FineTransformer

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
        fine, summary_out, _ = model.generate(codes((1, 2, T), coarse_seed), plan, summary, prefix, 1.0, 50, g)
        return fine, summary_out


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
        for name in ("transformer.pos.weight", "summary_in.weight", "plan_encoder.semantic_pos.weight",
                     "plan_encoder.energy.weight"):
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
    def run(summary: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            _, out, probs = model.generate(codes((1, 2, T)), plan, summary, None, 1.0, 50, torch.Generator())
        return out, probs

    out_a, probs_a = run(torch.randn(1, 8, 256, generator=torch.Generator().manual_seed(1)))
    out_b, probs_b = run(torch.randn(1, 8, 256, generator=torch.Generator().manual_seed(2)))
    _, probs_none = run(None)
    # The distributions drawn from: a fresh model's tied output moves little, its draws may not.
    assert not torch.allclose(probs_a, probs_b) and not torch.allclose(probs_a, probs_none)
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


@pytest.fixture(scope="module")
def revealing() -> FineTransformer:
    torch.manual_seed(0)
    config = FineConfig(transformer=TransformerConfig(dim=64, layers=2, heads=4, max_len=128), copy_window=3)
    model = FineTransformer(config).eval()
    with torch.no_grad():  # copying on, so the equivalences below cover it
        model.copy.bias.copy_(torch.linspace(-2, 3, 6))
        model.copy.weight.normal_(0, 0.1)
    return model


def test_reveal_steps_interleave_after_the_prefix(revealing: FineTransformer) -> None:
    steps = revealing.frame_steps(14, 2, CPU).tolist()
    assert steps == [-1, -1, 0, 2, 1, 3, 0, 2, 1, 3, 0, 2, 1, 3]  # step 1 halfway between step 0's frames
    for steps in (1, 3):
        with pytest.raises(ValueError, match="power of two > 1"):
            FineConfig(reveal_steps=steps)
    with pytest.raises(ValueError, match="copy_window must be >= 1"):
        FineConfig(copy_window=0)


def test_copy_weights_land_on_the_known_neighbours_codes(revealing: FineTransformer) -> None:
    """Frame 5 with neighbours 2..8 known: each one's copy weight goes to its
    own code, two neighbours sharing a code add up, unknown ones give nothing."""
    tokens = torch.tensor([[7, 7, 1, 2, 3, 9, 3, 4, 5, 6]])
    visible = torch.tensor([[True] * 5 + [False, True, True, False, True]])
    hidden = torch.randn(1, 10, 64)
    extra = revealing._copy_logits(hidden, tokens, visible, 1024)[0, 5]
    w = revealing.copy(hidden)[0, 5]  # offsets -3, -2, -1, 1, 2, 3
    expected = torch.zeros(1024)
    for code, weight in ((1, w[0]), (2, w[1]), (3, w[2] + w[3]), (4, w[4])):  # frame 8 (offset 3) unknown
        expected[code] += weight
    torch.testing.assert_close(extra, expected)


def test_a_fresh_model_scores_by_its_tied_output_alone(plan: PlanContext) -> None:
    """The copy and the Gaussian over the codebook vectors start at zero: a
    fresh model learns them from scores of the tied output layer alone."""
    torch.manual_seed(0)
    model = geometric(FineConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=64)))
    hidden, tokens = torch.randn(1, 20, 32), codes((1, 20))
    visible = torch.rand(1, 20, generator=torch.Generator().manual_seed(2)) < 0.5
    below = model.fine_latent(codes((1, 2, 20), seed=6), 2)
    tied = hidden @ model.code_emb.weight[4 * 1024 : 5 * 1024].T * 32**-0.5 + model.head_bias[2]
    torch.testing.assert_close(model.logits(hidden, 4, tokens, visible, below), tied)


def test_the_default_config_is_the_bundled_architecture() -> None:
    """What an untrained plugin builds is what the bundled weights are."""
    _, card, _ = load_checkpoint(bundled_checkpoint("temporal"))
    bundled = config_from_dict(FineConfig, card.model_config)
    assert replace(bundled, token_space=TokenSpaceConfig()) == FineConfig()


def test_a_later_step_hears_the_codes_of_earlier_steps(revealing: FineTransformer, plan: PlanContext) -> None:
    """Step s reads the level's true codes on frames of steps < s and nothing
    of the others: changing a step-2 frame's code moves step 3's logits, not
    step 2's own or step 1's."""
    target = codes((1, 8, T), seed=3)
    frame_steps = revealing.frame_steps(T, 10, CPU)
    other = target.clone()
    other[0, 4, frame_steps == 2] = (other[0, 4, frame_steps == 2] + 1) % 1024
    with torch.inference_mode():
        for step, moves in ((1, False), (2, False), (3, True)):
            a, _ = revealing(target, 4, plan, prefix_len=10, step=step)
            b, _ = revealing(other, 4, plan, prefix_len=10, step=step)
            assert (not torch.allclose(a, b, atol=1e-5)) == moves, step


@pytest.mark.parametrize("name", ["revealing", "placing"])  # placing: with codebook geometry, the sums below each level
def test_teacher_forced_steps_match_forward(name: str, plan: PlanContext, request: pytest.FixtureRequest) -> None:
    revealing = request.getfixturevalue(name)
    target = codes((1, 8, T), seed=4)
    step = torch.tensor([[0, 1, 2, 3, 1, 2]])
    with torch.inference_mode():
        logits, _ = revealing.teacher_forced(target, plan, None, prefix_len=10, step=step)
        for level in range(2, 8):
            single, _ = revealing(target, level, plan, prefix_len=10, step=int(step[0, level - 2]))
            torch.testing.assert_close(logits[:, level - 2], single, atol=1e-4, rtol=1e-4)


def test_generate_with_reveal_steps_samples_every_frame_and_keeps_the_prefix(
    revealing: FineTransformer, plan: PlanContext
) -> None:
    prefix = codes((1, 6, 12), seed=9)
    fine, summary = generate(revealing, plan, prefix=prefix, seed=3)
    again, _ = generate(revealing, plan, prefix=prefix, seed=3)
    assert fine.shape == (1, 6, T) and torch.equal(fine, again) and torch.equal(fine[..., :12], prefix)
    assert summary.shape == (1, 8, 256)
    # Greedy decoding through the passes is what the step-by-step forward passes choose.
    with torch.inference_mode():
        greedy, _, probs = revealing.generate(codes((1, 2, T)), plan, None, prefix, 0.0, 0, None)
        assert torch.equal(probs.argmax(-1), greedy) and torch.equal(probs.sum(-1), torch.ones(1, 6, T))
        full = torch.cat([codes((1, 2, T)), greedy], dim=1)
        frame_steps = revealing.frame_steps(T, 12, CPU)
        for level in (2, 7):
            for step in range(4):
                logits, _ = revealing(full, level, plan, prefix_len=12, step=step)
                now = frame_steps == step
                assert torch.equal(logits[0, now].argmax(-1), greedy[0, level - 2, now])


def test_generate_gives_the_distribution_each_token_was_drawn_from(
    revealing: FineTransformer, plan: PlanContext
) -> None:
    prefix = codes((1, 6, 12), seed=9)
    with torch.inference_mode():
        fine, _, probs = revealing.generate(codes((1, 2, T)), plan, None, prefix, 0.7, 8, torch.Generator().manual_seed(3))
    assert probs.shape == (1, 6, T, 1024)
    assert torch.allclose(probs.sum(-1), torch.ones(1, 6, T))
    # The prefix is given, not drawn: one-hot on its codes.
    assert torch.equal(probs[..., :12, :].argmax(-1), prefix) and torch.all(probs[..., :12, :].max(-1).values == 1)
    # Every drawn token had weight in its distribution, and top-k left at most 8 codes with any.
    drawn = probs[..., 12:, :].gather(-1, fine[..., 12:, None])[..., 0]
    assert torch.all(drawn > 0)
    assert int((probs[..., 12:, :] > 0).sum(-1).max()) <= 8
    assert int((probs[..., 12:, :] > 0).sum(-1).min()) > 1  # a distribution, not a one-hot


def geometric(config: FineConfig) -> FineTransformer:
    torch.manual_seed(0)
    model = FineTransformer(replace(config, latent_dim=16))
    ts = config.token_space
    model.set_codebooks(torch.randn(ts.codebooks, ts.codebook_size, 16, generator=torch.Generator().manual_seed(1)))
    return model


@pytest.fixture(scope="module")
def placing() -> FineTransformer:
    """A model whose Gaussian and copy layers are set at random."""
    model = geometric(FineConfig(transformer=TransformerConfig(dim=64, layers=2, heads=4, max_len=128),
                                 copy_window=3)).eval()
    with torch.no_grad():
        for layer in (model.latent_out, model.neighbour_weights, model.copy):
            layer.weight.normal_(0, 0.1)
            layer.bias.normal_(0, 0.5)
    return model


def test_the_neighbours_place_the_gaussian(placing: FineTransformer) -> None:
    """Frame 5, neighbours 4 and 6 known, equal weights: the centre is the
    mean of (their fine sums up to the level) less frame 5's sum below it."""
    tokens = codes((1, 10), seed=7)
    visible = torch.zeros(1, 10, dtype=torch.bool)
    visible[0, [4, 6]] = True
    below = torch.randn(1, 10, 16, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        placing.neighbour_weights.weight.zero_()
        placing.neighbour_weights.bias.zero_()
        vectors = placing.codebook_vectors[4 * 1024 : 5 * 1024]
        centre = placing._neighbour_centre(torch.randn(1, 10, 64), vectors, tokens, visible, below)
    expected = (below[0, 4] + vectors[tokens[0, 4]] + below[0, 6] + vectors[tokens[0, 6]]) / 2 - below[0, 5]
    torch.testing.assert_close(centre[0, 5], expected)
    assert not centre[0, 0].any()  # no known neighbour within 3 frames of frame 0
    with torch.no_grad():
        placing.neighbour_weights.weight.normal_(0, 0.1)
        placing.neighbour_weights.bias.normal_(0, 0.5)


def test_with_geometry_sampling_sees_the_sums_the_passes_see(placing: FineTransformer, plan: PlanContext) -> None:
    """Greedy sampling picks what the level-by-level passes over its own
    codes pick: the same fine sums below each level."""
    with torch.inference_mode():
        prefix = codes((1, 6, 12), seed=9)
        greedy, _, _ = placing.generate(codes((1, 2, T)), plan, None, prefix, 0.0, 0, None)
        full = torch.cat([codes((1, 2, T)), greedy], dim=1)
        frame_steps = placing.frame_steps(T, 12, CPU)
        for level in (2, 5, 7):
            for s in range(4):
                single, _ = placing(full, level, plan, prefix_len=12, step=s)
                now = frame_steps == s
                assert torch.equal(single[0, now].argmax(-1), greedy[0, level - 2, now])


def test_geometry_logits_are_a_gaussian_around_the_point_the_state_reads() -> None:
    model = geometric(FineConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=64), reveal_steps=2,
                                 copy_window=1))
    with torch.no_grad():
        model.latent_out.weight.normal_(0, 0.3)
        model.latent_out.bias.normal_(0, 0.3)
    hidden = torch.randn(2, 5, 32)
    level = 4
    vectors = model.codebook_vectors[level * 1024 : (level + 1) * 1024]
    vectors = vectors / vectors.square().mean().sqrt()
    read = model.latent_out(hidden)
    point, precision = read[..., :-1], read[..., -1:]
    centre = point / precision  # m . e - q |e|^2 / 2 = -q |e - m / q|^2 / 2 + a constant per frame
    expected = -0.5 * precision * torch.cdist(centre, vectors[None].expand(2, -1, -1)).square()
    # No known neighbour: the state alone places it.
    unknown = torch.zeros(2, 5, dtype=torch.bool)
    got = model._geometry_logits(hidden, level, codes((2, 5)), unknown, torch.randn(2, 5, 16))
    torch.testing.assert_close(got - got[..., :1], expected - expected[..., :1], atol=1e-3, rtol=1e-4)


def test_codebook_vectors_must_fit() -> None:
    config = FineConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=64), reveal_steps=2,
                        copy_window=1)
    with pytest.raises(ValueError, match=r"codebook vectors must be \[8, 1024, 16\]"):
        geometric(config).set_codebooks(torch.zeros(8, 1024, 128))
