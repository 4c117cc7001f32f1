from __future__ import annotations

import json
import math
from dataclasses import fields, replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer, beat_features
from hiermusic.services.acoustic.plugin import CoarseTransformerPlugin
from hiermusic.services.acoustic.sampling import CoarseSampling
from hiermusic.services.acoustic.thematic_attention import MemoryBatch
from hiermusic.services.common.bootstrap import WEIGHTS_DIR
from hiermusic.services.common.checkpoint import load_checkpoint, save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.config_dict import config_from_dict
from hiermusic.services.common.level import ChunkInputs, card_for
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.common.thematic_memory import MemoryInputs

CPU = torch.device("cpu")


def plan_of(ctx: ChunkInputs) -> PlanContext:
    """The plan as the plugin feeds it to the model."""
    return PlanContext.from_chunks([ctx], ctx.num_frames, TokenSpaceConfig().frames_per_semantic, CPU)


def _ctx(frames: int = 60, start: int = 0) -> ChunkInputs:
    rng = np.random.default_rng(0)
    return ChunkInputs(
        chunk_index=0, start_frame=start, num_frames=frames, semantic_start=max(0, start // 4 - 12),
        semantic_tokens=rng.integers(0, 512, 40), frame_sections=np.repeat([0, 1], 20),
        section_embeddings=rng.standard_normal((2, 256)).astype(np.float32),
        text_embedding=rng.standard_normal(256).astype(np.float32), section_energy=np.array([0.2, 0.9], np.float32),
    )


@pytest.fixture(scope="module")
def plugin():
    return CoarseTransformerPlugin(None, CPU)


def test_untrained_plugin_says_so(plugin):
    info = plugin.info()
    assert not info.trained and "untrained" in info.model_version
    assert info.token_space.coarse_codebooks == 2


def test_generate_shapes_determinism_and_prefix(plugin):
    codes, summary = plugin.generate(_ctx(), None, None, seed=5, temperature=0, top_k=0)
    assert codes.shape == (2, 60) and codes.dtype == np.int64 and summary.shape == (8, 256)
    again, _ = plugin.generate(_ctx(), None, None, seed=5, temperature=0, top_k=0)
    assert np.array_equal(codes, again)
    other, _ = plugin.generate(_ctx(), None, None, seed=6, temperature=0, top_k=0)
    assert not np.array_equal(codes, other)
    prefix = codes[:, -12:]
    cont, summary2 = plugin.generate(_ctx(), summary, prefix, seed=5, temperature=0, top_k=0)
    assert np.array_equal(cont[:, :12], prefix)
    fresh, _ = plugin.generate(_ctx(), None, prefix, seed=5, temperature=0, top_k=0)
    assert not np.array_equal(cont, fresh), "the summary in must change what is generated"


def test_frames_align_with_the_semantic_token_covering_them():
    ctx = _ctx(frames=16, start=48)  # frames 48..63 -> semantic 12..15, semantic_start 0
    plan = plan_of(ctx)
    assert plan.semantic.gather(1, plan.frame_semantic)[0].tolist() == np.repeat(ctx.semantic_tokens[12:16], 4).tolist()


def test_incremental_generation_matches_teacher_forcing(plugin):
    """The cached sampler and the training forward compute the same logits."""
    model = plugin.model
    ctx = _ctx(frames=20)
    plan = plan_of(ctx)
    codes, _ = model.generate(plan, None, None, 20, 0.0, 0, torch.Generator())
    with torch.no_grad():
        logits, _ = model(codes.clone(), plan, None)
    assert torch.equal(logits.argmax(-1), codes)  # greedy decoding picks each argmax


def test_the_default_config_is_the_bundled_architecture():
    """What an untrained plugin builds is what the bundled weights are."""
    _, card, _ = load_checkpoint(WEIGHTS_DIR / "acoustic.safetensors")
    bundled = config_from_dict(CoarseConfig, card.model_config)
    assert replace(bundled, token_space=TokenSpaceConfig()) == CoarseConfig()


def test_checkpoint_round_trip(tmp_path):
    config = CoarseConfig(transformer=TransformerConfig(dim=64, layers=1, heads=2, max_len=256))
    card = card_for("coarse_transformer", "acoustic", config, config.token_space, "coarse-test-v1")
    card.trained = True
    save_checkpoint(CoarseTransformer(config), card, tmp_path / "a.safetensors")
    loaded = CoarseTransformerPlugin(tmp_path / "a.safetensors", CPU)
    assert loaded.info().model_version == "coarse-test-v1" and loaded.info().trained
    assert len(loaded.info().checkpoint_digest) == 64
    assert loaded.model.config.transformer.dim == 64


def test_checkpoint_of_another_level_is_refused(tmp_path):
    config = CoarseConfig(transformer=TransformerConfig(dim=64, layers=1, heads=2, max_len=256))
    save_checkpoint(CoarseTransformer(config), card_for("fine_transformer", "temporal", config, config.token_space, "x"),
                    tmp_path / "t.safetensors")
    with pytest.raises(ValueError, match="temporal plugin 'fine_transformer'"):
        CoarseTransformerPlugin(tmp_path / "t.safetensors", CPU)


def test_frames_hear_their_place_in_the_beat_grid():
    """The beat layer starts at zero: a fresh model hears no grid until it
    learns to; then its frames hear the grid the context carries."""
    config = CoarseConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=128))
    torch.manual_seed(0)
    model = CoarseTransformer(config).eval()
    grid = np.stack([np.arange(60) / 25, np.arange(60) / 50], axis=1).astype(np.float32)  # 120 bpm, 2 beats a bar
    with_grid, without = plan_of(replace(_ctx(), frame_beats=grid)), plan_of(_ctx())
    with torch.inference_mode():
        deaf = model.frame_plan(with_grid)
        torch.testing.assert_close(deaf, model.frame_plan(without))
        torch.nn.init.normal_(model.beat_proj.weight)
        heard = model.frame_plan(with_grid)
        assert not torch.allclose(heard, deaf)
        # Frames a bar apart hear the same phase; no grid is heard as none at all.
        torch.testing.assert_close(heard[0, 0] - deaf[0, 0], heard[0, 50] - deaf[0, 50], atol=1e-4, rtol=0)
        torch.testing.assert_close(model.frame_plan(without), deaf)


def test_beat_features_mark_frames_without_a_grid():
    positions = torch.tensor([[[0.25, 0.0625], [float("nan"), float("nan")]]])
    features = beat_features(positions)
    assert features.shape == (1, 2, 7)
    torch.testing.assert_close(features[0, 0, :3], torch.tensor([1.0, 0.0, math.sin(math.pi / 8)]))
    assert features[0, 0, -1] == 1 and features[0, 1].abs().sum() == 0


def test_frames_hear_the_drums_the_prompt_asked_for():
    config = CoarseConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=128))
    model = CoarseTransformer(config).eval()
    torch.nn.init.normal_(model.drums_emb.weight[1:])  # trained: wanted and unwanted differ; unsaid stays zero
    plans = {d: plan_of(replace(_ctx(), drums=d)) for d in (0, 1, 2)}
    with torch.inference_mode():
        heard = {d: model.frame_plan(p) for d, p in plans.items()}
    assert plans[2].drums.tolist() == [2]
    assert not torch.allclose(heard[1], heard[2]) and not torch.allclose(heard[0], heard[1])
    torch.testing.assert_close(heard[1] - heard[0], model.drums_emb.weight[1].expand_as(heard[1]))


def test_no_drums_asked_keeps_to_the_codes_drumless_songs_use(tmp_path):
    """A table (as `train acoustic` makes) in which only
    codes below 8 of either codebook are mostly heard without drums: asked
    for no drums, the plugin draws only those in RVQ 1; unsaid or asked
    for, any."""
    config = CoarseConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=128))
    model = CoarseTransformer(config)
    drumless = torch.arange(config.token_space.codebook_size) < 8
    model.drums_evidence[:, 1] = torch.where(drumless, math.log(0.2), math.log(0.8))
    model.drums_evidence[:, 2] = torch.where(drumless, math.log(0.8), math.log(0.2))
    card = card_for(CoarseTransformerPlugin.name, "acoustic", config, config.token_space, "coarse_transformer-t")
    save_checkpoint(model, card, tmp_path / "a.safetensors")
    plugin = CoarseTransformerPlugin(tmp_path / "a.safetensors", CPU)

    every = config.token_space.codebook_size  # every code a candidate

    def codes(drums: int, top_k: int = every) -> np.ndarray:
        return plugin.generate(replace(_ctx(frames=40), drums=drums), None, None, seed=1, temperature=1.0,
                               top_k=top_k)[0]

    assert (codes(2)[0] < 8).all(), "asked away, only the drumless codes of RVQ 1"
    assert (codes(2)[1] >= 8).mean() > 0.9, "RVQ 2 has no floor (sampling.drums_floor)"
    assert (codes(0) >= 8).mean() > 0.9 and (codes(1) >= 8).mean() > 0.9
    # Only among a step's candidates (its top k): where none is drumless the
    # step keeps them all, so with one candidate nothing changes (the
    # untrained drums input is zero, so the model's logits are the same).
    top = codes(0, top_k=1)
    assert (top >= 8).any() and np.array_equal(codes(2, top_k=1), top)


def test_the_bundled_model_keeps_drumless_codes_when_no_drums_are_asked():
    """The bundled table (corpus C's training songs): RVQ 1 tells drums
    apart, a quarter of its codes coming nearly only with drums; asked for
    none, the codes drawn are the drumless side's, unsaid they need not be."""
    from pathlib import Path

    bundled = Path(__file__).resolve().parents[3] / "weights" / "acoustic.safetensors"
    plugin = CoarseTransformerPlugin(bundled, CPU)
    p_none = plugin.model.drums_evidence[0, 2].float().exp()  # RVQ 1: p(no drums | code)
    assert float((p_none < 0.01).float().mean()) > 0.2 and float((p_none >= 0.5).float().mean()) > 0.4

    def drumless_share(drums: int, seed: int) -> float:
        codes, _ = plugin.generate(replace(_ctx(frames=50), drums=drums), None, None, seed=seed, temperature=1.0,
                                   top_k=0)
        return float((p_none[torch.from_numpy(codes[0])] >= 0.5).float().mean())

    # Several seeds: one chunk left to itself may draw only drumless codes too.
    seeds = (3, 4, 5)
    asked_away = min(drumless_share(2, seed) for seed in seeds)
    unsaid = sum(drumless_share(0, seed) for seed in seeds) / len(seeds)
    assert asked_away > 0.9 and asked_away > unsaid, (asked_away, unsaid)


def test_sampling_comes_from_the_card_and_a_service_overrides_it(tmp_path):
    config = CoarseConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=128))
    card = card_for("coarse_transformer", "acoustic", config, config.token_space, "coarse-test-v1")
    save_checkpoint(CoarseTransformer(config), replace(card, sampling={"top_k": 8, "drums_floor": [0.25, 0.0]}),
                    tmp_path / "a.safetensors")
    from_card = CoarseTransformerPlugin(tmp_path / "a.safetensors", CPU)
    assert from_card.sampling == CoarseSampling(top_k=8, drums_floor=(0.25, 0.0))
    greedy = CoarseTransformerPlugin(tmp_path / "a.safetensors", CPU, sampling={"top_k": 1})
    assert greedy.sampling == CoarseSampling(top_k=1, drums_floor=(0.25, 0.0))
    # A request's top_k of 0 means the service's.
    np.testing.assert_array_equal(greedy.generate(_ctx(), None, None, seed=1, temperature=1.0, top_k=0)[0],
                                  from_card.generate(_ctx(), None, None, seed=1, temperature=1.0, top_k=1)[0])
    with pytest.raises(ValueError, match=r"sampling\.drums_flor: unknown field"):
        CoarseTransformerPlugin(tmp_path / "a.safetensors", CPU, sampling={"drums_flor": [0.5]})
    with pytest.raises(ValueError, match=r"sampling\.drums_floor\[1\]: expected a number in \[0, 1\]"):
        CoarseTransformerPlugin(tmp_path / "a.safetensors", CPU, sampling={"drums_floor": [0.5, 2]})


def test_the_bundled_card_states_every_sampling_setting():
    card = json.loads((WEIGHTS_DIR / "acoustic.json").read_text())
    assert set(card["sampling"]) == {f.name for f in fields(CoarseSampling)}


def test_the_no_drums_floor_holds_only_in_sections_that_ask_for_none():
    """Section 0 asks for no drums, section 1 for drums: codes the corpus
    never heard without drums are drawn in section 1 only."""
    torch.manual_seed(0)
    model = CoarseTransformer(CoarseConfig()).eval()
    drumless = torch.arange(model.drums_evidence.shape[-1]) < 16
    model.drums_evidence[:, 2] = torch.where(drumless, 0.0, -1e4)  # log p(no drums | code)
    ctx = replace(_ctx(), drums=1, section_drums=np.array([2, 1]), frame_sections=np.repeat([0, 1], [5, 35]))
    plan = plan_of(ctx)
    codes, _ = model.generate(plan, None, None, 60, 1.0, 0, torch.Generator().manual_seed(3), drums_floor=(0.5, 0.0))
    verse = (plan.frame_drums[0] == 2).numpy()
    assert verse.any() and not verse.all()
    first = codes[0, 0].numpy()
    assert drumless.numpy()[first[verse]].all() and not drumless.numpy()[first[~verse]].all()


def _memory(frames: int = 30, offset: int = 20, seed: int = 0) -> MemoryInputs:
    codes = np.random.default_rng(seed).integers(0, TokenSpaceConfig().codebook_size, (2, frames))
    return MemoryInputs(of_section=0, chunk_offset=offset, codes=codes)


def test_weights_from_before_the_thematic_memory_load_and_serve_unchanged(tmp_path):
    """A checkpoint without the memory's layers is the same model: they start
    behind a zero gate. Any other weight missing is refused by name."""
    config = CoarseConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=128))
    model = CoarseTransformer(config)
    card = card_for(CoarseTransformerPlugin.name, "acoustic", config, config.token_space, "coarse-before-memory")
    save_checkpoint(model, card, tmp_path / "a.safetensors")
    state, _, _ = load_checkpoint(tmp_path / "a.safetensors")
    older = {k: v for k, v in state.items() if not k.startswith("theme.")}
    save_file(older, str(tmp_path / "older.safetensors"))
    (tmp_path / "older.json").write_text((tmp_path / "a.json").read_text())
    plugin = CoarseTransformerPlugin(tmp_path / "older.safetensors", CPU)
    assert plugin.model.theme.gate.item() == 0.0 and plugin.info().max_memory_frames == 120  # 128 - 8 summary
    without = plugin.generate(_ctx(), None, None, seed=5, temperature=1.0, top_k=0)
    given = plugin.generate(_ctx(), None, None, seed=5, temperature=1.0, top_k=0, memory=_memory())
    assert all(np.array_equal(a, b) for a, b in zip(without, given))

    save_file({k: v for k, v in older.items() if k != "bos"}, str(tmp_path / "broken.safetensors"))
    (tmp_path / "broken.json").write_text((tmp_path / "a.json").read_text())
    with pytest.raises(ValueError, match="missing bos"):
        CoarseTransformerPlugin(tmp_path / "broken.safetensors", CPU)


def test_once_its_gate_opens_a_frame_hears_its_memory_and_batches_pad_it_away():
    """Trained, the memory changes what a chunk writes; in a batch, a chunk
    with no memory and a shorter memory get what they get alone."""
    config = CoarseConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=128))
    torch.manual_seed(0)
    model = CoarseTransformer(config).eval()
    torch.nn.init.constant_(model.theme.gate, 1.0)
    ctx, codebooks = _ctx(frames=60), config.token_space.coarse_codebooks
    codes = torch.randint(0, config.token_space.codebook_size, (1, 2, 60))
    memories = [_memory(30, 20), None, _memory(12, 0, seed=1)]

    def logits(batch: list[MemoryInputs | None]) -> torch.Tensor:
        plan = PlanContext.from_chunks([ctx] * len(batch), 60, TokenSpaceConfig().frames_per_semantic, CPU)
        with torch.inference_mode():
            return model(codes.expand(len(batch), -1, -1), plan, None, theme=MemoryBatch.of(batch, codebooks, CPU))[0]

    alone = [logits([m]) for m in memories]
    assert not torch.allclose(alone[0], alone[1]) and not torch.allclose(alone[0], alone[2])
    together = logits(memories)
    for i, one in enumerate(alone):
        torch.testing.assert_close(together[i : i + 1], one, atol=1e-5, rtol=0)
