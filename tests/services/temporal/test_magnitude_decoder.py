from __future__ import annotations

import pytest
import torch

from hiermusic.services.temporal.magnitude_decoder import MagnitudeDecoder

HOP, N_FFT = 480, 1920


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def decoder() -> MagnitudeDecoder:
    torch.manual_seed(0)
    return MagnitudeDecoder(dimension=16, hop=HOP, dim=32, layers=2, n_fft=N_FFT, griffin_lim_iters=32).eval()


def same_stft(wav: torch.Tensor) -> torch.Tensor:
    """[B, T * hop] -> complex [B, n_fft / 2 + 1, T]: frame t centred on
    sample t * hop + hop / 2, the framing the decoder inverts."""
    pad = (N_FFT - HOP) // 2
    padded = torch.nn.functional.pad(wav, (pad, pad))
    return torch.stft(padded, N_FFT, HOP, window=torch.hann_window(N_FFT, dtype=torch.float64), center=False,
                      return_complex=True)


@pytest.mark.parametrize("frames", [2, 7, 250])  # one frame is too short to reflect-pad
def test_frames_give_exactly_frames_times_hop_samples(decoder: MagnitudeDecoder, frames: int) -> None:
    wav = decoder(torch.randn(2, 16, frames))
    assert wav.shape == (2, 1, frames * HOP) and torch.isfinite(wav).all()


def test_the_inverse_stft_reconstructs_a_signal_framed_that_way(decoder: MagnitudeDecoder) -> None:
    wav = torch.randn(3, 50 * HOP, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    spec = same_stft(wav)
    assert spec.shape == (3, N_FFT // 2 + 1, 50)  # 50 frames/s
    assert torch.allclose(decoder.istft(spec), wav, atol=1e-5)


def test_each_frame_sounds_at_its_own_place(decoder: MagnitudeDecoder) -> None:
    """One frame's spectrum lands centred on sample t * hop + hop / 2."""
    spec = torch.zeros(1, N_FFT // 2 + 1, 20, dtype=torch.complex64)
    spec[0, 100, 9] = 1.0  # one sinusoid, windowed by the synthesis window
    energy = decoder.istft(spec)[0].square()
    centre = float((energy * torch.arange(len(energy))).sum() / energy.sum())
    assert centre == pytest.approx(9 * HOP + HOP / 2, abs=1.0)
    assert energy[: 9 * HOP + HOP // 2 - N_FFT // 2].sum() == 0 and energy[9 * HOP + HOP // 2 + N_FFT // 2:].sum() == 0


def test_refuses_an_fft_that_cannot_frame_the_hop() -> None:
    with pytest.raises(ValueError, match="n_fft"):
        MagnitudeDecoder(dimension=16, hop=HOP, n_fft=HOP - 2)
    with pytest.raises(ValueError, match="n_fft"):
        MagnitudeDecoder(dimension=16, hop=HOP, n_fft=HOP + 1)


def tones(seconds: float, freqs: tuple[float, ...]) -> torch.Tensor:
    t = torch.arange(int(seconds * 24000)) / 24000
    return sum(0.2 * torch.sin(2 * torch.pi * f * t) for f in freqs)[None]  # [1, N]


def test_the_magnitude_target_is_the_decoders_framing(decoder: MagnitudeDecoder) -> None:
    wav = tones(1.0, (440.0,))
    target = decoder.target_log_magnitude(wav[:, None])  # [1, F, 50]
    assert target.shape == (1, N_FFT // 2 + 1, 50)
    inner = same_stft(wav.double()).abs()[..., 2:-2]  # the edges differ by padding only
    assert torch.allclose(target[..., 2:-2].exp().double(), inner, atol=1e-3 * float(inner.max()))
    assert int(target[0, :, 25].argmax()) == round(440 * N_FFT / 24000)


def test_griffin_lim_keeps_the_pitch_of_a_magnitude(decoder: MagnitudeDecoder) -> None:
    """Phase found from the magnitude alone: the rebuilt audio's spectrum
    matches the original's closely and its strongest partial is the same."""
    wav = tones(1.0, (220.0, 330.0, 550.0))
    magnitude = decoder.stft(wav).abs()  # [1, F, 50]
    rebuilt = decoder.griffin_lim(magnitude)
    assert rebuilt.shape == wav.shape
    again = decoder.stft(rebuilt).abs()
    convergence = float((again - magnitude).norm() / magnitude.norm())
    assert convergence < 0.2, convergence
    assert int(again[0, :, 25].argmax()) == int(magnitude[0, :, 25].argmax())
    assert torch.equal(rebuilt, decoder.griffin_lim(magnitude))  # deterministic: every replica agrees


def test_learns_through_its_magnitude_and_decodes_whole_frames(decoder: MagnitudeDecoder) -> None:
    latent = torch.randn(1, 16, 10)
    assert decoder(latent).shape == (1, 1, 10 * HOP)
    assert decoder.log_magnitude(latent).shape == (1, N_FFT // 2 + 1, 10)
    decoder.zero_grad()
    decoder.log_magnitude(latent).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.parameters())
