from __future__ import annotations

import pytest
import torch

from hiermusic.services.semantic.audio_tower import AudioTower, AudioTowerConfig

TINY = AudioTowerConfig(n_mels=32, crop_s=1.0, channels=(32, 32), dim=32, layers=1, heads=2)
SR = 24000


@pytest.fixture(scope="module")
def tower() -> AudioTower:
    torch.manual_seed(0)
    return AudioTower(TINY, embedding_dim=16).eval()


def test_default_tower_is_small_and_halves_time_three_times() -> None:
    config = AudioTowerConfig()
    tower = AudioTower(config, embedding_dim=256)
    assert sum(p.numel() for p in tower.parameters()) < 1_500_000
    assert config.frame_rate == 50.0 and config.crop_frames == 500 and config.downsample == 8


def test_log_mel_has_one_frame_per_hop(tower: AudioTower) -> None:
    mel = tower.log_mel(torch.randn(2, SR) * 0.1)
    assert mel.shape == (2, 32, SR // 480 + 1) and torch.isfinite(mel).all()
    silent = tower.log_mel(torch.zeros(1, SR))
    assert torch.isfinite(silent).all()


@pytest.mark.parametrize("frames", [7, 33, 50, 51])
def test_forward_takes_any_length_up_to_a_crop(tower: AudioTower, frames: int) -> None:
    with torch.no_grad():
        out = tower(torch.randn(3, 32, frames))
    assert out.shape == (3, 16)
    assert torch.allclose(out.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_windows_cover_the_piece_without_padding(tower: AudioTower) -> None:
    mel = torch.arange(130.0).expand(32, 130)  # frame index as its value
    crops = tower.windows(mel)
    assert crops.shape == (3, 32, 50)
    assert crops[0, 0, 0] == 0 and crops[1, 0, 0] == 50 and crops[2, 0, -1] == 129  # last one flush with the end
    short = tower.windows(mel[:, :20])  # repeated to one crop, as training fills short songs' crops
    assert short.shape == (1, 32, 50) and short[0, 0, :23].tolist() == [*range(20), 0, 1, 2]


def test_whole_piece_embedding_is_a_unit_vector_and_deterministic(tower: AudioTower) -> None:
    audio = torch.randn(int(3.7 * SR)) * 0.1
    with torch.no_grad():
        a, b = tower.embed_waveform(audio), tower.embed_waveform(audio)
        short = tower.embed_waveform(audio[: SR // 2])
    assert a.shape == (16,) and torch.allclose(a.norm(), torch.tensor(1.0), atol=1e-5)
    assert torch.equal(a, b) and short.shape == (16,)


def test_mel_buffers_are_not_saved(tower: AudioTower) -> None:
    assert not any(name in tower.state_dict() for name in ("window", "fbanks"))
