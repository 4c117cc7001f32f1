from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.common.checkpoint import load_checkpoint, save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import card_for
from hiermusic.services.common.plugins import load_plugin
from hiermusic.services.temporal.codec import expected_latent
from hiermusic.services.temporal.codec_stft_magnitude import (
    StftMagnitudeCodec,
    StftMagnitudeConfig,
    StftMagnitudeModel,
    codes_digest,
)

CPU = torch.device("cpu")
SMALL = StftMagnitudeConfig(encoder_dim=32, encoder_layers=1, decoder_dim=32, decoder_layers=1)


@pytest.fixture(scope="module")
def codec() -> StftMagnitudeCodec:
    return StftMagnitudeCodec(None, CPU)


def random_codes(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 1024, (1, 8, frames), generator=torch.Generator().manual_seed(seed))


def test_registered_with_the_contracted_token_space(codec: StftMagnitudeCodec) -> None:
    assert load_plugin("codec", "stft_magnitude") is StftMagnitudeCodec
    assert codec.codec_id == TokenSpaceConfig().codec_id == "seanet-small-24k"
    assert (codec.sample_rate, codec.frame_rate, codec.hop_length) == (24000, 50.0, 480)
    assert (codec.codebooks, codec.codebook_size) == (8, 1024)
    assert not codec.trained and "untrained" in codec.version
    assert sum(p.numel() for p in codec.model.parameters()) < 5_000_000


def test_random_init_decodes_to_audible_audio(codec: StftMagnitudeCodec) -> None:
    a = codec.decode(random_codes(50, seed=0))
    b = codec.decode(random_codes(50, seed=1))
    assert a.shape == (1, 1, 50 * 480)
    assert torch.isfinite(a).all()
    # AC level, not a DC offset: the signal itself varies.
    assert a.std() > 0.02 and a.abs().max() < 1.0
    assert not torch.allclose(a, b)


def test_encode_then_decode_shapes(codec: StftMagnitudeCodec) -> None:
    wav = 0.1 * torch.randn(2, 1, 24000, generator=torch.Generator().manual_seed(0))
    codes = codec.encode(wav)
    assert codes.shape == (2, 8, 50) and codes.dtype == torch.int64
    assert 0 <= int(codes.min()) and int(codes.max()) < 1024
    assert codec.decode(codes).shape == (2, 1, 24000)


def test_random_init_is_seeded(codec: StftMagnitudeCodec) -> None:
    again = StftMagnitudeCodec(None, CPU)
    assert again.version == codec.version
    assert torch.equal(again.decode(random_codes(10)), codec.decode(random_codes(10)))


def test_out_of_range_codes_are_refused(codec: StftMagnitudeCodec) -> None:
    with pytest.raises(ValueError, match="lie in"):
        codec.decode(torch.full((1, 8, 4), 1024))
    with pytest.raises(ValueError, match=r"\[B, 1..8, T\]"):
        codec.decode(torch.zeros(1, 9, 4, dtype=torch.long))


def test_the_first_levels_alone_decode(codec: StftMagnitudeCodec) -> None:
    """Coarse-only decoding (2 of 8 levels) gives audio of the same length."""
    codes = codec.encode(torch.randn(1, 1, 4800) * 0.1)
    assert codec.decode(codes[:, :2]).shape == codec.decode(codes).shape == (1, 1, 4800)


def test_one_hot_distributions_decode_as_the_codes_they_pick(codec: StftMagnitudeCodec) -> None:
    codes = random_codes(20, seed=3)
    one_hot = torch.nn.functional.one_hot(codes[:, 2:], 1024).float()  # [1, 6, 20, 1024]
    assert torch.allclose(codec.decode_expected(codes[:, :2], one_hot), codec.decode(codes), atol=1e-5)
    # Fewer levels of distributions than of codes decode the first levels only.
    assert torch.allclose(codec.decode_expected(codes[:, :2], one_hot[:, :1]), codec.decode(codes[:, :3]), atol=1e-5)


def test_expected_vectors_weigh_each_code_by_its_probability(codec: StftMagnitudeCodec) -> None:
    a, b = random_codes(20, seed=4), random_codes(20, seed=5)
    b[:, :2] = a[:, :2]  # the same coarse codes, two guesses at the fine ones
    half = 0.25 * torch.nn.functional.one_hot(a[:, 2:], 1024).float() + \
        0.75 * torch.nn.functional.one_hot(b[:, 2:], 1024).float()
    quantizer = codec.model.quantizer
    mix = 0.25 * quantizer.decode(a.transpose(0, 1)) + 0.75 * quantizer.decode(b.transpose(0, 1))
    assert torch.allclose(expected_latent(quantizer, a[:, :2], half), mix, atol=1e-5)
    wav = codec.decode_expected(a[:, :2], half)
    assert wav.shape == (1, 1, 20 * 480) and not torch.allclose(wav, codec.decode(a))


def test_distributions_that_do_not_continue_the_codes_are_refused(codec: StftMagnitudeCodec) -> None:
    codes = random_codes(20)[:, :2]
    with pytest.raises(ValueError, match="probs must be"):
        codec.decode_expected(codes, torch.ones(1, 6, 19, 1024))
    with pytest.raises(ValueError, match="probs must be"):
        codec.decode_expected(codes, torch.ones(1, 6, 20, 512))
    with pytest.raises(ValueError, match="exceed"):
        codec.decode_expected(codes, torch.ones(1, 7, 20, 1024))


def test_checkpoint_round_trip(codec: StftMagnitudeCodec, tmp_path: Path) -> None:
    card = replace(
        card_for("stft_magnitude", "codec", codec.model.config, TokenSpaceConfig(), "stft_magnitude-test-1"), trained=True
    )
    path = tmp_path / "codec.safetensors"
    digest = save_checkpoint(codec.model, card, path)
    loaded = StftMagnitudeCodec(path, CPU)
    assert (loaded.version, loaded.trained, loaded.digest) == ("stft_magnitude-test-1", True, digest)
    # Codes of one checkpoint mean nothing to a model trained on another's.
    assert loaded.codec_id == f"seanet-small-24k-{codes_digest(codec.model)[:8]}" != codec.codec_id
    assert torch.equal(loaded.decode(random_codes(10)), codec.decode(random_codes(10)))


def test_the_token_space_is_the_encoder_and_quantizer_not_the_decoder(codec: StftMagnitudeCodec,
                                                                     tmp_path: Path) -> None:
    card = replace(card_for("stft_magnitude", "codec", codec.model.config, TokenSpaceConfig(), "t"), trained=True)
    model = StftMagnitudeModel(codec.model.config)
    model.load_state_dict(codec.model.state_dict())

    def saved(name: str) -> StftMagnitudeCodec:
        save_checkpoint(model, card, tmp_path / name)
        return StftMagnitudeCodec(tmp_path / name, CPU)

    first = saved("first.safetensors")
    with torch.no_grad():
        next(model.decoder.parameters()).add_(0.1)  # a decoder trained again: same codes, new sound
    new_decoder = saved("decoder.safetensors")
    with torch.no_grad():
        next(model.encoder.parameters()).add_(0.1)  # an encoder trained again: other codes
    new_encoder = saved("encoder.safetensors")
    assert first.digest != new_decoder.digest and first.codec_id == new_decoder.codec_id
    assert new_encoder.codec_id != first.codec_id


def test_the_default_config_is_the_bundled_codecs_architecture() -> None:
    """An untrained codec builds what ships, and the bundled card loads with
    the token space and version every bundled card and corpus records."""
    _, card, _ = load_checkpoint(bundled_checkpoint("codec"))
    stored = {k: v for k, v in card.config.items() if k != "training"}
    assert stored == asdict(StftMagnitudeConfig())  # no key the config lacks, none it leaves to a default
    bundled = StftMagnitudeCodec(bundled_checkpoint("codec"), CPU)
    assert bundled.model.config == StftMagnitudeConfig()
    assert (bundled.codec_id, bundled.version) == ("seanet-small-24k-65229fe6", "seanet-small-magnitude-4000-8985907a")
    assert bundled.trained and card.plugin == StftMagnitudeCodec.name


def test_the_training_pass_predicts_the_spectrum_it_is_trained_against() -> None:
    """Training compares log magnitudes (Griffin-Lim is for decoding), through
    the first levels only under quantizer dropout."""
    model = StftMagnitudeModel(SMALL)
    wav = 0.1 * torch.randn(2, 1, 4800, generator=torch.Generator().manual_seed(2))
    log_magnitude, q = model(wav, 2)
    assert log_magnitude.shape == model.decoder.target_log_magnitude(wav).shape == (2, 961, 10)
    assert q.codes.shape == (2, 2, 10)


def test_the_stft_encoders_frame_t_hears_the_audio_around_its_centre() -> None:
    """A click at frame 20's centre moves latent frames 19-21 only (windows of
    4 hops centred on sample t * hop + hop / 2), symmetrically around 20."""
    torch.manual_seed(0)
    model = StftMagnitudeModel(StftMagnitudeConfig(encoder_dim=32, encoder_layers=0)).eval()
    quiet = 1e-3 * torch.randn(1, 1, 40 * 480)
    click = quiet.clone()
    click[0, 0, 20 * 480 + 240] = 0.5
    with torch.no_grad():
        moved = (model.encoder(click) - model.encoder(quiet)).norm(dim=1)[0]  # [40]
    assert moved.shape == (40,) and (moved > 1e-4).nonzero()[:, 0].tolist() == [19, 20, 21]


def test_the_codes_are_the_packages_residual_quantization_when_nothing_is_smoothed() -> None:
    model = StftMagnitudeModel(replace(SMALL, fine_smoothing=1)).eval()
    wav = 0.1 * torch.randn(1, 1, 9600, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        latent = model.encoder(wav)
        package = model.quantizer.encode(latent, int(model.frame_rate)).transpose(0, 1)
        assert torch.equal(model.encode(wav), package)
        assert torch.allclose(model.quantize(latent).quantized, model.quantizer.decode(package.transpose(0, 1)))


def test_smoothing_the_fine_residual_keeps_the_coarse_codes_and_makes_another_token_space() -> None:
    plain = StftMagnitudeModel(replace(SMALL, fine_smoothing=1)).eval()
    smoothed = StftMagnitudeModel(replace(SMALL, fine_smoothing=5)).eval()
    smoothed.load_state_dict(plain.state_dict())
    wav = 0.1 * torch.randn(1, 1, 24000, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        before, after = plain.encode(wav), smoothed.encode(wav)
        assert torch.equal(before[:, :2], after[:, :2])
        assert not torch.equal(before[:, 2:], after[:, 2:])
        # Decoding is the sum of the codes' vectors either way.
        assert torch.allclose(smoothed.quantize(smoothed.encoder(wav)).quantized,
                              smoothed.quantizer.decode(after.transpose(0, 1)), atol=1e-5)
    assert codes_digest(plain) != codes_digest(smoothed)


def test_the_fine_residual_is_averaged_over_a_normalised_window() -> None:
    model = StftMagnitudeModel(replace(SMALL, fine_smoothing=5))
    spike = torch.zeros(1, 128, 21)
    spike[:, :, 10] = 1.0
    spread = model.smooth_fine(spike)
    assert spread.shape == spike.shape
    assert torch.allclose(spread.sum(-1), torch.ones(1, 128))  # the window sums to one
    assert (spread[0, 0] > 0).nonzero()[:, 0].tolist() == [8, 9, 10, 11, 12]
    assert torch.allclose(model.smooth_fine(torch.full((1, 128, 7), 2.0)), torch.full((1, 128, 7), 2.0))
    with pytest.raises(ValueError, match="fine_smoothing must be an odd number"):
        StftMagnitudeConfig(fine_smoothing=4)


def test_codebook_vectors_are_what_each_code_adds_to_the_latent(codec: StftMagnitudeCodec) -> None:
    vectors = codec.codebook_vectors()
    assert vectors.shape == (8, 1024, 128)
    picks = random_codes(5)  # [1, 8, 5]
    latent = codec.model.quantizer.decode(picks.transpose(0, 1))  # [1, 128, 5]
    summed = sum(vectors[k][picks[0, k]] for k in range(8))  # [5, 128]
    torch.testing.assert_close(summed, latent[0].T)
