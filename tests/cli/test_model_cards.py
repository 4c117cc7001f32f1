"""docs/model-cards.md is generated from weights/*.json and must match them."""
from __future__ import annotations

import json
from pathlib import Path

from hiermusic.cli.model_cards import render_model_cards

REPO = Path(__file__).resolve().parents[2]


def test_the_page_matches_the_bundled_cards() -> None:
    page = REPO / "docs" / "model-cards.md"
    expected = render_model_cards(REPO / "weights")
    assert page.is_file(), "docs/model-cards.md is missing: run `hiermusic cards`"
    assert page.read_text(encoding="utf-8") == expected, (
        "docs/model-cards.md is stale (weights/*.json changed): run `hiermusic cards`"
    )


def test_a_card_renders_its_name_and_version(tmp_path: Path) -> None:
    card = {
        "plugin": "toy_planner",
        "level": "semantic",
        "version": "toy_planner-0.1-abcdef12",
        "config": {"width": 8, "training": {"steps": 10}},
        "trained": True,
        "data": "a corpus",
        "steps": 10,
        "wall_time_s": 3.2,
        "metrics": {"test_ce": 1.23456},
    }
    (tmp_path / "toy.json").write_text(json.dumps(card))
    page = render_model_cards(tmp_path)
    assert "## toy: `toy_planner-0.1-abcdef12`" in page
    assert "toy_planner" in page and "| `test_ce` | 1.235 |" in page
    (tmp_path / "semantic_tokenizer.json").write_text(json.dumps({"tokenizer_id": "feature-kmeans-4-0123abcd"}))
    assert "## semantic_tokenizer: `feature-kmeans-4-0123abcd`" in render_model_cards(tmp_path)
