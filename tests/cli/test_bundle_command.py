"""`hiermusic bundle`: a trained run's weights go into the weights directory
as float16 and load back into the level's float32 model; untrained weights
and a bundle over the size budget are refused with nothing written."""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hiermusic.cli.bundle_command import bundle
from hiermusic.cli.main import TRAINER_NAMES, main
from hiermusic.cli.train_command import TRAINERS
from hiermusic.corpus.semantic_features import FEATURE_DIM
from hiermusic.corpus.semantic_tokenizer import SemanticTokenizer
from hiermusic.services.common.checkpoint import ModelCard, save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer
from hiermusic.services.acoustic.plugin import CoarseTransformerPlugin
from hiermusic.services.acoustic.sampling import CoarseSampling
from hiermusic.services.common.level import card_for, load_or_init
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeConfig, StftMagnitudeModel

TINY = StftMagnitudeConfig(dimension=32, codebook_size=64, encoder_dim=32, encoder_layers=1, decoder_dim=32,
                           decoder_layers=1)


def trained_run(run_dir: Path, trained: bool = True) -> StftMagnitudeModel:
    torch.manual_seed(0)
    model = StftMagnitudeModel(TINY)
    card = ModelCard("stft_magnitude", "codec", "stft_magnitude-10-abcdef12", asdict(TINY),
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
    assert card["storage"] == "float16" and card["version"] == done.version == "stft_magnitude-10-abcdef12"

    loaded = load_or_init("stft_magnitude", "codec", StftMagnitudeConfig, StftMagnitudeModel, done.path,
                          torch.device("cpu"))
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


def acoustic_run(run_dir: Path, sampling: dict) -> None:
    config = CoarseConfig(transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=128))
    card = card_for("coarse_transformer", "acoustic", config, config.token_space, "coarse-test-1")
    save_checkpoint(CoarseTransformer(config), replace(card, trained=True, sampling=sampling),
                    run_dir / TRAINERS["acoustic"].produces)


def test_a_bundled_level_card_states_its_sampling_settings(tmp_path) -> None:
    def bundled_sampling(run: str, sampling: dict) -> dict:
        acoustic_run(tmp_path / run, sampling)
        done = bundle("acoustic", tmp_path / run, tmp_path / run / "weights")
        return json.loads(done.path.with_suffix(".json").read_text())["sampling"]

    assert bundled_sampling("untuned", {}) == {"temperature": 1.0, "top_k": 64, "drums_floor": [0.5, 0.0]}
    assert bundled_sampling("tuned", {"top_k": 40}) == {"temperature": 1.0, "top_k": 40, "drums_floor": [0.5, 0.0]}
    served = CoarseTransformerPlugin(tmp_path / "tuned" / "weights" / "acoustic.safetensors", torch.device("cpu"))
    assert served.sampling == CoarseSampling(top_k=40)
    with pytest.raises(ValueError, match=r"coarse-test-1: sampling\.top_c: unknown field"):
        bundled_sampling("misspelt", {"top_c": 40})
    assert not (tmp_path / "misspelt" / "weights").exists()
    trained_run(tmp_path / "codec")  # a codec has no sampling settings, so its card no such section
    bundle("codec", tmp_path / "codec", tmp_path / "codec" / "weights")
    assert "sampling" not in json.loads((tmp_path / "codec" / "weights" / "codec.json").read_text())


def semantic_run(run_dir: Path, corpus: Path, tokenizer_id: str) -> None:
    """A trained semantic card that names `corpus` as its data, as a run's card does."""
    torch.manual_seed(0)
    card = ModelCard("minilm_planner", "semantic", "planner-test-1", {},
                     asdict(TokenSpaceConfig(semantic_tokenizer_id=tokenizer_id)), trained=True, steps=3,
                     data=f"{corpus} (build 0123456789ab, tokenizer {tokenizer_id})")
    save_checkpoint(torch.nn.Linear(4, 4), card, run_dir / TRAINERS["semantic"].produces)


def tokenizer_in(corpus: Path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(64, FEATURE_DIM)).astype(np.float32)
    fitted = SemanticTokenizer.fit(features, songs=2, clusters=4, seed=seed)
    fitted.save(corpus / "semantic_tokenizer.safetensors")
    return fitted.tokenizer_id


def test_a_semantic_bundle_carries_the_tokenizer_its_planner_speaks(tmp_path, capsys) -> None:
    speaks = tokenizer_in(tmp_path / "corpus", seed=0)
    semantic_run(tmp_path / "run", tmp_path / "corpus", speaks)
    done = bundle("semantic", tmp_path / "run", tmp_path / "weights")
    bundled = SemanticTokenizer.load(tmp_path / "weights" / "semantic_tokenizer.safetensors")
    assert bundled.tokenizer_id == speaks
    assert done.megabytes > (tmp_path / "weights" / "semantic.safetensors").stat().st_size / 1e6

    other = tokenizer_in(tmp_path / "other", seed=1)
    assert other != speaks
    assert main(["bundle", "semantic", str(tmp_path / "run"), "--weights", str(tmp_path / "w2"),
                 "--tokenizer", str(tmp_path / "other" / "semantic_tokenizer.safetensors")]) == 1
    assert f"is {other}, but planner-test-1 speaks {speaks}" in capsys.readouterr().err
    assert not (tmp_path / "w2" / "semantic.safetensors").exists()  # refused before anything was written

    (tmp_path / "corpus" / "semantic_tokenizer.safetensors").unlink()  # the corpus moved or was cleaned
    with pytest.raises(ValueError, match="no semantic tokenizer there"):
        bundle("semantic", tmp_path / "run", tmp_path / "w3")
