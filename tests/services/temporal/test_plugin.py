from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from hiermusic.services.common.checkpoint import save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs, card_for
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.common.plugins import load_plugin
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeCodec
from hiermusic.services.temporal.fine_model import FineConfig, FineTransformer
from hiermusic.services.temporal.plugin import FineTransformerPlugin
from hiermusic.services.temporal.sampling import FineSampling

CPU = torch.device("cpu")
T = 100  # frames per test chunk
P = 20  # prefix frames


@pytest.fixture(scope="module")
def plugin() -> FineTransformerPlugin:
    return FineTransformerPlugin(None, CPU)


@pytest.fixture
def chunk(make_chunk: Callable[..., ChunkInputs]) -> ChunkInputs:
    return make_chunk(T)


def tokens(rows: int, frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1024, (rows, frames))


def summary_vectors(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((8, 256)).astype(np.float32)


def render(plugin: FineTransformerPlugin, chunk: ChunkInputs, *, summary=None, prefix=None, seed=0, temperature=0.0, top_k=0):
    return plugin.render(chunk, tokens(2, T), summary, prefix, seed, temperature, top_k)


def test_found_through_the_registry_and_reports_both_models(plugin: FineTransformerPlugin) -> None:
    assert load_plugin("temporal", "fine_transformer") is FineTransformerPlugin
    info = plugin.info()
    assert (info.level, info.plugin, info.codec_plugin) == ("temporal", "fine_transformer", "stft_magnitude")
    assert info.model_version == f"{plugin.loaded.version}+{plugin.codec.version}"
    assert "untrained" in info.model_version and not info.trained
    assert info.token_space.codec_id == plugin.codec.codec_id
    assert info.token_space.frame_rate == plugin.codec.frame_rate == 50.0
    assert info.max_chunk_frames == plugin.max_frames >= 250  # a 5 s chunk fits


def test_render_outputs(plugin: FineTransformerPlugin, chunk: ChunkInputs) -> None:
    fine, audio, summary = render(plugin, chunk, summary=summary_vectors(0), prefix=tokens(6, P, seed=1))
    assert fine.shape == (6, T) and fine.dtype == np.int64
    assert audio.shape == (T * 480,) and audio.dtype == np.float32
    assert summary.shape == (8, 256) and summary.dtype == np.float32
    assert np.isfinite(audio).all() and audio.std() > 0.01
    assert np.isfinite(summary).all()


def test_deterministic_by_seed(plugin: FineTransformerPlugin, chunk: ChunkInputs) -> None:
    a, b, c = (render(plugin, chunk, seed=s) for s in (5, 5, 6))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_zero_means_the_default_sampling(plugin: FineTransformerPlugin, chunk: ChunkInputs) -> None:
    defaults = render(plugin, chunk, temperature=plugin.sampling.temperature, top_k=plugin.sampling.top_k)
    np.testing.assert_array_equal(render(plugin, chunk)[0], defaults[0])


def test_audio_is_rendered_from_the_expected_codebook_vectors(
    plugin: FineTransformerPlugin, chunk: ChunkInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The codec's own audio: without the loudness automation (see the test after this one).
    monkeypatch.setattr(plugin, "sampling", replace(plugin.sampling, energy_gain_db=0.0))
    coarse = torch.tensor(tokens(2, T))[None]
    fine, audio, _ = render(plugin, chunk, seed=2, temperature=1.0, top_k=50)
    drawn = plugin.codec.decode(torch.cat([coarse, torch.tensor(fine)[None]], dim=1))[0, 0].numpy()
    assert not np.allclose(audio, drawn, atol=1e-3)  # not the drawn codes' audio...
    # ...but what the codec makes of the distributions the codes were drawn from.
    with torch.inference_mode():
        ctx = PlanContext.from_chunks([chunk], T, plugin.token_space.frames_per_semantic, CPU)
        again, _, probs = plugin.model.generate(coarse, ctx, None, None, 1.0, 50, torch.Generator().manual_seed(2))
    assert np.array_equal(again[0].numpy(), fine)
    np.testing.assert_allclose(audio, plugin.codec.decode_expected(coarse, probs)[0, 0].numpy(), atol=1e-5)
    # A one-code distribution is its code: top_k 1 renders the drawn codes.
    fine, audio, _ = render(plugin, chunk, seed=2, temperature=1.0, top_k=1)
    drawn = plugin.codec.decode(torch.cat([coarse, torch.tensor(fine)[None]], dim=1))[0, 0].numpy()
    np.testing.assert_allclose(audio, drawn, atol=1e-5)
    # Rendering the drawn codes instead is one setting away.
    monkeypatch.setattr(plugin, "sampling", replace(plugin.sampling, render_expected=False))
    fine, audio, _ = render(plugin, chunk, seed=2, temperature=1.0, top_k=50)
    drawn = plugin.codec.decode(torch.cat([coarse, torch.tensor(fine)[None]], dim=1))[0, 0].numpy()
    np.testing.assert_array_equal(audio, drawn)


def test_the_loudness_automation_scales_the_codecs_audio_by_each_sections_energy(
    plugin: FineTransformerPlugin, chunk: ChunkInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hiermusic.services.temporal.energy_gain import energy_gain

    monkeypatch.setattr(plugin, "sampling", replace(plugin.sampling, energy_gain_db=0.0))
    _, plain, _ = render(plugin, chunk, seed=2, temperature=1.0, top_k=50)
    monkeypatch.setattr(plugin, "sampling", replace(plugin.sampling, energy_gain_db=6.0))
    _, loud, _ = render(plugin, chunk, seed=2, temperature=1.0, top_k=50)
    ctx = PlanContext.from_chunks([chunk], T, plugin.token_space.frames_per_semantic, CPU)
    gain = energy_gain(chunk.section_energy, ctx.frame_section[0].numpy(), len(plain) // T, 6.0)
    np.testing.assert_allclose(loud, plain * gain, atol=1e-6)
    assert not np.allclose(gain, 1.0)


def test_prefix_kept_exactly(plugin: FineTransformerPlugin, chunk: ChunkInputs) -> None:
    prefix = tokens(6, P, seed=7)
    fine, _, _ = render(plugin, chunk, prefix=prefix)
    np.testing.assert_array_equal(fine[:, :P], prefix)


def test_summary_in_changes_the_output(plugin: FineTransformerPlugin, chunk: ChunkInputs) -> None:
    a = render(plugin, chunk, summary=summary_vectors(1))
    b = render(plugin, chunk, summary=summary_vectors(2))
    assert not np.array_equal(a[0], b[0])
    assert not np.allclose(a[2], b[2])


def test_bad_inputs_are_refused(
    plugin: FineTransformerPlugin, chunk: ChunkInputs, make_chunk: Callable[..., ChunkInputs]
) -> None:
    with pytest.raises(ValueError, match="coarse"):
        plugin.render(chunk, tokens(3, T), None, None, 0, 0.0, 0)
    with pytest.raises(ValueError, match="coarse has 99 frames"):
        plugin.render(chunk, tokens(2, T - 1), None, None, 0, 0.0, 0)
    with pytest.raises(ValueError, match="lie in"):
        plugin.render(chunk, tokens(2, T) + 1024, None, None, 0, 0.0, 0)
    with pytest.raises(ValueError, match="shorter than the chunk"):
        plugin.render(chunk, tokens(2, T), None, tokens(6, T), 0, 0.0, 0)
    with pytest.raises(ValueError, match="this model takes"):
        plugin.render(make_chunk(plugin.max_frames + 1), tokens(2, plugin.max_frames + 1), None, None, 0, 0.0, 0)
    with pytest.raises(ValueError, match="summary"):
        plugin.render(chunk, tokens(2, T), np.zeros((4, 256), np.float32), None, 0, 0.0, 0)


def test_checkpoints_round_trip(plugin: FineTransformerPlugin, chunk: ChunkInputs, tmp_path: Path) -> None:
    codec_card = card_for("stft_magnitude", "codec", plugin.codec.model.config, plugin.token_space, "codec-test-1")
    codec_path = tmp_path / "codec.safetensors"
    save_checkpoint(plugin.codec.model, replace(codec_card, trained=True), codec_path)
    trained_id = StftMagnitudeCodec(codec_path, CPU).codec_id  # a trained codec is a token space of its own

    def fine_for(codec_id: str) -> Path:
        space = replace(plugin.token_space, codec_id=codec_id)
        card = card_for("fine_transformer", "temporal", replace(plugin.loaded.config, token_space=space), space,
                        "fine-test-1")
        path = tmp_path / f"fine-{codec_id}.safetensors"
        save_checkpoint(plugin.model, replace(card, trained=True), path)
        return path

    half = FineTransformerPlugin(fine_for(plugin.codec.codec_id), CPU)
    assert half.info().model_version == f"fine-test-1+{plugin.codec.version}"
    assert not half.info().trained  # the codec is still untrained
    both = FineTransformerPlugin(fine_for(trained_id), CPU, codec_checkpoint=codec_path)
    assert both.info().model_version == "fine-test-1+codec-test-1" and both.info().trained
    for x, y in zip(render(plugin, chunk, summary=summary_vectors(3)), render(both, chunk, summary=summary_vectors(3))):
        np.testing.assert_array_equal(x, y)
    # Fine tokens learnt from one codec's codes are refused beside another codec.
    with pytest.raises(ValueError, match=f"codec_id: checkpoint 'seanet-small-24k', codec '{trained_id}'"):
        FineTransformerPlugin(fine_for(plugin.codec.codec_id), CPU, codec_checkpoint=codec_path)


def test_checkpoint_for_another_codec_is_refused(tmp_path: Path) -> None:
    ts = replace(TokenSpaceConfig(), codec_id="encodec_24khz", frame_rate=75.0)
    config = FineConfig(token_space=ts)
    path = tmp_path / "fine.safetensors"
    save_checkpoint(FineTransformer(config), card_for("fine_transformer", "temporal", config, ts, "fine-75"), path)
    with pytest.raises(ValueError, match="encodec_24khz.*stft_magnitude|stft_magnitude.*encodec_24khz"):
        FineTransformerPlugin(path, CPU)


def test_sampling_comes_from_the_card_and_a_service_overrides_it(plugin: FineTransformerPlugin, tmp_path: Path) -> None:
    assert plugin.sampling == FineSampling()  # untrained: the defaults
    card = card_for("fine_transformer", "temporal", plugin.loaded.config, plugin.token_space, "fine-test-1")
    path = tmp_path / "fine.safetensors"
    save_checkpoint(plugin.model, replace(card, sampling={"top_k": 16, "render_expected": False}), path)
    from_card = FineTransformerPlugin(path, CPU)
    assert from_card.sampling == FineSampling(top_k=16, render_expected=False)
    overridden = FineTransformerPlugin(path, CPU, sampling={"temperature": 0.3})
    assert overridden.sampling == FineSampling(temperature=0.3, top_k=16, render_expected=False)
    with pytest.raises(ValueError, match=r"sampling\.render_expectd: unknown field"):
        FineTransformerPlugin(path, CPU, sampling={"render_expectd": True})
    with pytest.raises(ValueError, match=r"sampling\.render_expected: expected true or false"):
        FineTransformerPlugin(path, CPU, sampling={"render_expected": 1})
