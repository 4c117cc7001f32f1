from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from hiermusic.services.common.checkpoint import ModelCard
from hiermusic.services.common.checkpoint import save_checkpoint
from hiermusic.services.common.training import (
    Run,
    Schedule,
    by_split,
    check_same_run,
    corpus_id,
    drums_evidence,
    learning_rate_schedule,
    unigram_entropy,
    warm_start,
)


@dataclass
class Settings:
    steps: int
    warmup: int
    lr: float


@dataclass
class Item:
    split: str


def test_learning_rate_warms_up_then_decays() -> None:
    schedule = learning_rate_schedule(Settings(steps=100, warmup=10, lr=1.0))
    assert schedule.at(0) == pytest.approx(0.1) and schedule.at(9) == pytest.approx(1.0)
    assert schedule.at(99) == pytest.approx(0.1, abs=1e-3)


def test_unigram_entropy_is_that_of_the_pooled_frequencies() -> None:
    assert unigram_entropy([torch.tensor([0, 1]), torch.tensor([[2, 3]])]) == pytest.approx(math.log(4))
    assert unigram_entropy([torch.tensor([5, 5, 5])]) == 0.0
    # Values absent from one tensor still count from the others.
    assert unigram_entropy([torch.tensor([0, 0]), torch.tensor([7, 7])]) == pytest.approx(math.log(2))


def test_drums_evidence_is_each_tokens_share_of_frames_with_and_without_drums() -> None:
    songs = [(True, torch.tensor([0, 0, 1])), (False, torch.tensor([[1, 2]])), (True, torch.tensor([2]))]
    evidence = drums_evidence(songs, 4)
    assert evidence.shape == (3, 4) and not evidence[0].any()  # unsaid: no evidence either way
    # Token 0: two frames with drums, none without, smoothed by half a frame each.
    assert float(evidence[1, 0].exp()) == pytest.approx(2.5 / 3.0)
    assert float(evidence[2, 0].exp()) == pytest.approx(0.5 / 3.0)
    assert float(evidence[1, 1].exp()) == pytest.approx(0.5)  # once with, once without
    assert float(evidence[1, 3].exp()) == pytest.approx(0.5)  # never seen: no evidence either way
    torch.testing.assert_close(evidence[1].exp() + evidence[2].exp(), torch.ones(4))


def test_items_are_grouped_by_split_in_order() -> None:
    items = [Item("valid"), Item("train"), Item("test"), Item("train")]
    groups = by_split(items)
    assert list(groups) == ["train", "valid", "test"]
    assert groups["train"] == [items[1], items[3]] and groups["valid"] == [items[0]] and groups["test"] == [items[2]]


@dataclass
class _Settings:
    steps: int = 10
    lr: float = 1e-3
    batch: int = 4
    eval_every: int = 5


def test_a_resumed_run_may_run_longer_but_not_differently(tmp_path) -> None:
    corpus, other = tmp_path / "corpus", tmp_path / "other"
    for d in (corpus, other):
        d.mkdir()
        (d / "build.json").write_text(f'{{"songs": {len(d.name)}}}')
    card = ModelCard("p", "acoustic", "v", {"training": {"steps": 10, "lr": 1e-3, "batch": 4, "eval_every": 5}}, {},
                     data=corpus_id(corpus))
    check_same_run(card, _Settings(steps=20, eval_every=2), corpus, tmp_path)  # longer, reported more often
    with pytest.raises(ValueError, match=r"other settings \(batch 4 -> 8, lr 0.001 -> 0.002\)"):
        check_same_run(card, _Settings(lr=2e-3, batch=8), corpus, tmp_path)
    with pytest.raises(ValueError, match="was trained on"):
        check_same_run(card, _Settings(), other, tmp_path)


def test_a_fresh_run_starts_from_given_weights_and_new_layers_keep_their_own(tmp_path) -> None:
    torch.manual_seed(0)
    before = torch.nn.Sequential(torch.nn.Linear(3, 4))
    save_checkpoint(before, ModelCard("p", "acoustic", "p-1", {}, {}, trained=True, steps=7), tmp_path / "w.safetensors")
    grown = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    new_layer = grown[1].weight.detach().clone()
    lines: list[str] = []
    run = Run(tmp_path / "run", {"model": grown}, torch.optim.SGD(grown.parameters(), lr=0.1))
    warm_start(run, grown, str(tmp_path / "w.safetensors"), lines.append)
    assert torch.equal(grown[0].weight, before[0].weight) and torch.equal(grown[1].weight, new_layer)
    assert "p-1, 7 steps" in lines[0] and "new here: 1.bias, 1.weight" in lines[0]
    assert (run.init_from["version"], run.init_from["steps"]) == ("p-1", 7)  # every card of the run names it

    run.step = 5  # resumed: its own checkpoint stands, the warm start is not applied again
    torch.nn.init.zeros_(grown[0].weight)
    warm_start(run, grown, str(tmp_path / "w.safetensors"), lines.append)
    assert grown[0].weight.abs().sum() == 0

    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    save_checkpoint(other, ModelCard("p", "acoustic", "p-2", {}, {}), tmp_path / "big.safetensors")
    wider = torch.nn.Sequential(torch.nn.Linear(3, 5))
    save_checkpoint(wider, ModelCard("p", "acoustic", "p-3", {}, {}), tmp_path / "wide.safetensors")
    with pytest.raises(ValueError, match=r"does not fit this model .*0.weight \(5, 3\) vs \(4, 3\)"):
        warm_start(Run(tmp_path / "r3", {"model": before}, torch.optim.SGD(before.parameters(), lr=0.1)), before,
                   str(tmp_path / "wide.safetensors"), lines.append)
    with pytest.raises(ValueError, match="does not: 1.bias, 1.weight"):
        warm_start(Run(tmp_path / "r2", {"model": before}, torch.optim.SGD(before.parameters(), lr=0.1)), before,
                   str(tmp_path / "big.safetensors"), lines.append)


def test_a_parameter_group_follows_the_schedule_times_its_own_scale() -> None:
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([{"params": [a]}, {"params": [b], "lr_scale": 20.0}], lr=1.0)
    schedule = Schedule(lr=1e-3, steps=100, warmup=10)
    schedule.apply(optimizer, 4)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([5e-4, 1e-2])
