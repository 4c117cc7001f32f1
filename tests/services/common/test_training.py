from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from services.common.training import by_split, learning_rate_schedule, unigram_entropy


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


def test_items_are_grouped_by_split_in_order() -> None:
    items = [Item("valid"), Item("train"), Item("test"), Item("train")]
    groups = by_split(items)
    assert list(groups) == ["train", "valid", "test"]
    assert groups["train"] == [items[1], items[3]] and groups["valid"] == [items[0]] and groups["test"] == [items[2]]
