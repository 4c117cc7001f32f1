from __future__ import annotations

import pytest
import torch

from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeConfig, StftMagnitudeModel
from hiermusic.services.temporal.spectral_basis import fit_spectral_bridge, octave_weights

SMALL = dict(dimension=16, encoder_dim=32, encoder_layers=1, decoder_dim=32, decoder_layers=1, codebooks=2,
             codebook_size=16)


def harmonic_crops(count: int, seconds: float = 0.4, sr: int = 24000) -> torch.Tensor:
    """Crops of a few harmonic tones at random pitches and levels: frames
    whose spectra lie near a low-dimensional space, as music's do."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * sr)) / sr
    crops = []
    for _ in range(count):
        f0 = 110.0 * 2 ** (torch.randint(0, 24, (1,), generator=g).item() / 12)
        level = 0.05 + 0.2 * torch.rand(1, generator=g).item()
        crops.append(level * sum(torch.sin(2 * torch.pi * f0 * h * t) / h for h in range(1, 6)))
    return torch.stack(crops)[:, None]


def test_a_fitted_bridge_is_the_principal_component_autoencoder() -> None:
    torch.manual_seed(0)
    model = StftMagnitudeModel(StftMagnitudeConfig(**SMALL, spectral_bridge=True)).eval()
    wav = harmonic_crops(24)
    held = fit_spectral_bridge(model, wav)
    assert 0.5 < held <= 1.0
    with torch.no_grad():
        log_mag = model.encoder.log_magnitude(wav)  # [N, F, T]
        latent = model.encoder(wav)
        rebuilt = model.decoder.log_magnitude(latent)
        frames = log_mag.transpose(1, 2).reshape(-1, log_mag.shape[1]).double()
        mean = frames.mean(0)
        scale = octave_weights(model.config.n_fft, model.config.sample_rate).double().sqrt()
        _, vectors = torch.linalg.eigh(((frames - mean) * scale).T @ ((frames - mean) * scale))
        basis = vectors[:, -16:]
        projected = (((frames - mean) * scale) @ basis @ basis.T / scale + mean).float()
    # The blocks' corrections start at zero: the latent is the weighted projection, the decoder its way back.
    assert torch.allclose(rebuilt.transpose(1, 2).reshape(-1, log_mag.shape[1]), projected, atol=1e-3)
    untrained = StftMagnitudeModel(StftMagnitudeConfig(**SMALL)).eval()
    with torch.no_grad():
        without = (untrained.decoder.log_magnitude(untrained.encoder(wav)) - log_mag).abs().mean()
    assert (rebuilt - log_mag).abs().mean() < 0.25 * without


def test_every_octave_weighs_the_same() -> None:
    weights = octave_weights(1920, 24000)
    freqs = torch.fft.rfftfreq(1920, 1 / 24000)
    octave = lambda lo: float(weights[(freqs >= lo) & (freqs < 2 * lo)].sum())  # noqa: E731
    assert abs(weights.mean() - 1.0) < 1e-6
    assert abs(octave(200.0) / octave(3200.0) - 1.0) < 0.1


def test_a_model_without_a_bridge_is_refused() -> None:
    with pytest.raises(ValueError, match="no spectral bridge"):
        fit_spectral_bridge(StftMagnitudeModel(StftMagnitudeConfig(**SMALL)), harmonic_crops(2))
