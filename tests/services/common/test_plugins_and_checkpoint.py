from __future__ import annotations

import json
import os
import stat

import pytest
import torch

from hiermusic.services.common.checkpoint import ModelCard, card_path, load_checkpoint, save_checkpoint
from hiermusic.services.common.plugins import UnknownPluginError, available, load_plugin


def test_registered_plugins_are_found():
    assert "coarse_transformer" in available("acoustic")
    assert load_plugin("acoustic", "coarse_transformer").__name__ == "CoarseTransformerPlugin"


def test_unknown_plugin_lists_the_choices():
    with pytest.raises(UnknownPluginError, match="unknown temporal plugin 'nope'.*fine_transformer"):
        load_plugin("temporal", "nope")


def test_checkpoint_round_trip_without_pickle(tmp_path):
    module = torch.nn.Linear(3, 2)
    card = ModelCard(plugin="p", level="acoustic", version="v9", config={"a": 1}, token_space={}, trained=True)
    digest = save_checkpoint(module, card, tmp_path / "m.safetensors")
    assert json.loads(card_path(tmp_path / "m.safetensors").read_text())["version"] == "v9"
    state, loaded, digest2 = load_checkpoint(tmp_path / "m.safetensors")
    assert digest == digest2 and loaded == card
    assert torch.equal(state["weight"], module.weight)
    (tmp_path / "m.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(Exception):
        load_checkpoint(tmp_path / "m.safetensors")


def test_weights_are_readable_as_the_umask_allows(tmp_path):
    """Written with umask 022, the weights are world-readable like the card,
    not owner-only as safetensors would leave them."""
    old = os.umask(0o022)
    try:
        save_checkpoint(torch.nn.Linear(1, 1), ModelCard("p", "temporal", "v", {}, {}), tmp_path / "w.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE(card_path(tmp_path / "w.safetensors").stat().st_mode) == 0o644


def test_checkpoint_without_card_is_refused(tmp_path):
    save_checkpoint(torch.nn.Linear(1, 1), ModelCard("p", "semantic", "v", {}, {}), tmp_path / "x.safetensors")
    card_path(tmp_path / "x.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no model card"):
        load_checkpoint(tmp_path / "x.safetensors")
