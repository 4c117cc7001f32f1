"""`hiermusic bundle`: a trained run's weights go into the weights directory
as float16 and load back into the level's float32 model; untrained weights
and a bundle over the size budget are refused with nothing written."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from hiermusic.cli.bundle_command import bundle
from hiermusic.cli.main import TRAINER_NAMES, main
from hiermusic.cli.train_command import TRAINERS
from hiermusic.services.common.checkpoint import ModelCard, save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import load_or_init
from hiermusic.services.temporal.codec_seanet import SeanetCodecConfig, SeanetCodecModel

TINY = SeanetCodecConfig(n_filters=4, dimension=32, lstm=0, codebook_size=64, decoder="magnitude", istft_dim=32,
                         istft_layers=1)


def trained_run(run_dir: Path, trained: bool = True) -> SeanetCodecModel:
    torch.manual_seed(0)
    model = SeanetCodecModel(TINY)
    card = ModelCard("seanet_small", "codec", "seanet-small-magnitude-10-abcdef12", asdict(TINY),
                     asdict(TokenSpaceConfig()), trained=trained, steps=10)
    save_checkpoint(model, card, run_dir / TRAINERS["codec"].produces)
    return model


def test_the_cli_offers_every_trainer() -> None:
    assert TRAINER_NAMES == tuple(TRAINERS)


def test_bundles_as_float16_that_loads_back_as_the_same_model(tmp_path) -> None:
    model = trained_run(tmp_path / "run")
    done = bundle("codec", tmp_path / "run", tmp_path / "weights")
    assert done.path == tmp_path / "weights" / "codec.safetensors"
    assert done.megabytes < 0.6 * (tmp_path / "run" / "codec.safetensors").stat().st_size / 1e6
    card = json.loads((tmp_path / "weights" / "codec.json").read_text())
    assert card["storage"] == "float16" and card["version"] == done.version == "seanet-small-magnitude-10-abcdef12"

    loaded = load_or_init("seanet_small", "codec", SeanetCodecConfig, SeanetCodecModel, done.path, torch.device("cpu"))
    for name, value in loaded.module.state_dict().items():
        original = model.state_dict()[name]
        assert value.dtype == original.dtype, name  # float32 again in memory
        if value.is_floating_point():
            assert torch.allclose(value, original, rtol=1e-3, atol=1e-4), name


def test_refuses_untrained_weights_and_a_bundle_over_budget(tmp_path) -> None:
    trained_run(tmp_path / "untrained", trained=False)
    with pytest.raises(ValueError, match="not a trained checkpoint"):
        bundle("codec", tmp_path / "untrained", tmp_path / "weights")

    trained_run(tmp_path / "run")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "text_audio.safetensors").write_bytes(b"\0" * 1_000_000)
    with pytest.raises(ValueError, match="over the 1 MB budget"):
        bundle("codec", tmp_path / "run", tmp_path / "weights", budget_mb=1.0)
    assert not (tmp_path / "weights" / "codec.safetensors").exists()


def test_the_command_reports_the_bundle_and_a_missing_run(tmp_path, capsys) -> None:
    trained_run(tmp_path / "run")
    assert main(["bundle", "codec", str(tmp_path / "run"), "--weights", str(tmp_path / "weights")]) == 0
    assert "float16" in capsys.readouterr().out
    assert main(["bundle", "semantic", str(tmp_path / "run"), "--weights", str(tmp_path / "weights")]) == 1
    assert "does not exist" in capsys.readouterr().err
