"""`hiermusic train`: every name maps to a trainer that exists, a config file
changes only what it names, and bad input is refused before training starts."""
from __future__ import annotations

import importlib
import inspect
import json

import pytest

from hiermusic.cli import train_command
from hiermusic.cli.train_command import TRAINERS, TrainConfigError, load_train_config, run_training
from hiermusic.services.acoustic import coarse_training
from hiermusic.services.semantic.label_plans import SemanticPlanConditioner
from tests.integration.mesh_helpers import run_cli


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_exists_with_the_shared_signature(name):
    trainer = TRAINERS[name]
    module = importlib.import_module(trainer.module)
    params = list(inspect.signature(getattr(module, trainer.function)).parameters)
    plans = ["conditioner"] if trainer.plans else []
    assert params[:6] == ["data_dir", "out_dir", "config", *plans, "device", "log"], params
    config = load_train_config(name, None)
    assert type(config).__name__ == trainer.config and config.steps > 0


def test_a_chunk_level_s_trainer_is_handed_the_semantic_level_s_plans(monkeypatch, tmp_path):
    """The chunk levels never import the semantic level: the command line does, and hands its plans on."""
    seen = {}

    def train(data_dir, out_dir, config, conditioner, device, log):
        seen["conditioner"] = conditioner
        return {}

    monkeypatch.setattr(coarse_training, "train", train)
    monkeypatch.setattr(train_command, "corpus_token_space", lambda space, data_dir: space)
    run_training("acoustic", tmp_path, tmp_path / "run", load_train_config("acoustic", None), "cpu", print)
    assert isinstance(seen["conditioner"], SemanticPlanConditioner)
    assert seen["conditioner"].version.startswith("minilm_planner-untrained-")  # no semantic_checkpoint named


def test_a_config_file_changes_only_what_it_names(tmp_path):
    path = tmp_path / "fine.json"
    path.write_text(json.dumps({"steps": 7, "model": {"transformer": {"dim": 64}}}))
    config = load_train_config("temporal", path)
    default = load_train_config("temporal", None)
    assert config.steps == 7 and config.model.transformer.dim == 64
    # The fine model's own transformer sizes, not TransformerConfig's class defaults.
    assert config.model.transformer.max_len == default.model.transformer.max_len == 512
    assert config.model.transformer.layers == default.model.transformer.layers
    assert config.batch == default.batch


@pytest.mark.parametrize("content, message", [
    ('{"stepz": 3}', "stepz: unknown field"),
    ('{"model": {"transformer": {"depth": 3}}}', "model.transformer.depth: unknown field"),
    ('[1, 2]', "expected a JSON object"),
    ('{"steps": ', "--config"),
])
def test_a_bad_config_file_is_refused_naming_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TrainConfigError, match=message.replace(".", r"\.")):
        load_train_config("temporal", path)


def test_the_cli_refuses_a_directory_that_is_not_a_corpus(tmp_path):
    result = run_cli(["train", "codec", "--data", tmp_path, "--out", tmp_path / "run"], timeout=60)
    assert result.returncode == 2 and "not a corpus" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_cli_refuses_a_bad_config_before_training(tmp_path):
    (tmp_path / "build.json").write_text("{}")
    (tmp_path / "c.json").write_text('{"lr_max": 1}')
    result = run_cli(["train", "acoustic", "--data", tmp_path, "--out", tmp_path / "run",
                      "--config", tmp_path / "c.json"], timeout=60)
    assert result.returncode == 2 and "lr_max: unknown field" in result.stderr
