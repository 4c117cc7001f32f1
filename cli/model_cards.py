"""docs/model-cards.md, made from the bundled model cards (weights/*.json).

The cards are what the services load and what `hiermusic bundle` writes, so
the page is generated from them rather than written by hand: it cannot drift,
and a test fails when it is stale (`hiermusic cards` writes it again).
Standard library only, so the page can be made without torch or the package
installed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Fields shown in each card's summary table, in this order, with their labels.
# Anything else a card holds (today or after a new field is added) still
# appears, under its own heading, so no field is ever dropped from the page.
SUMMARY_FIELDS = (
    ("level", "level"),
    ("plugin", "plugin"),
    ("version", "version"),
    ("trained", "trained"),
    ("storage", "stored as"),
    ("data", "training data"),
    ("steps", "steps (this run)"),
    ("wall_time_s", "wall time (this run)"),
)
HANDLED = {name for name, _ in SUMMARY_FIELDS} | {"metrics", "token_space", "config"}

HEADER = """\
# Model cards

Generated from `weights/*.json` by `hiermusic cards`; do not edit by hand
(`tests/cli/test_model_cards.py` fails when this page and the cards differ).
Each card is the JSON written beside its `.safetensors` weights by
`hiermusic train` and `hiermusic bundle`. Paths inside a card are where its
training ran, not files in this repository. How the bundle was made, run by
run: [bundle.md](bundle.md).

Metric names: `valid_`/`test_` are the held-out splits of the corpus named
under *training data*; `unigram_` is the baseline a model must beat (the
cross-entropy of the split's token frequencies); `_cbN` is RVQ codebook N
counted from 0; cross-entropies are in nats.
"""


def render_model_cards(weights_dir: Path) -> str:
    """Markdown with one section per `*.json` card in `weights_dir`, sorted by
    file name. Raises ValueError naming a card that is not a JSON object."""
    sections = [HEADER]
    for path in sorted(Path(weights_dir).glob("*.json")):
        sections.append(_render_card(path))
    if len(sections) == 1:
        sections.append(f"No model cards in `{Path(weights_dir).name}/`.\n")
    return "\n".join(sections)


def write_model_cards(weights_dir: Path, out: Path) -> bool:
    """Writes the page to `out`; True when its content changed."""
    text = render_model_cards(weights_dir)
    if out.is_file() and out.read_text(encoding="utf-8") == text:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return True


def _render_card(path: Path) -> str:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(card, dict):
        raise ValueError(f"{path}: a model card must be a JSON object")
    # A semantic tokenizer's card names itself by its id, not a version.
    name = card.get("version") or card.get("tokenizer_id") or "no version"
    lines = [f"## {path.stem}: `{name}`", ""]
    weights = path.with_suffix(".safetensors")
    rows = [("card", f"`{path.name}`")]
    if weights.is_file():
        rows.append(("weights", f"`{weights.name}`, {weights.stat().st_size / 1e6:.1f} MB"))
    for name, label in SUMMARY_FIELDS:
        if name in card:
            rows.append((label, _summary_value(name, card[name])))
    lines += _table(("field", "value"), rows)

    config = card.get("config")
    if isinstance(config, dict):
        training = config.get("training")
        architecture = {k: v for k, v in config.items() if k != "training"}
        if "token_space" in architecture and architecture["token_space"] == card.get("token_space"):
            del architecture["token_space"]  # the same as the card's own: shown once, below
        if architecture:
            lines += ["", "### Architecture (`config`)", "", *_settings(architecture)]
        if isinstance(training, dict):
            lines += ["", "### Training config (`config.training`)", "", *_settings(training)]
        elif training is not None:
            lines += ["", "### Training config (`config.training`)", "", *_json_block(training)]
    elif config is not None:
        lines += ["", "### config", "", *_json_block(config)]

    metrics = card.get("metrics")
    if isinstance(metrics, dict) and metrics:
        lines += ["", "### Metrics", ""]
        lines += _table(("metric", "value"), [(f"`{k}`", _number(v)) for k, v in metrics.items()])
    elif metrics is not None:
        lines += ["", "### Metrics", "", *_json_block(metrics)]

    space = card.get("token_space")
    if isinstance(space, dict) and space:
        lines += ["", "### Token space", ""]
        lines += _table(("field", "value"), [(f"`{k}`", _inline(v)) for k, v in space.items()])

    for name, value in card.items():  # whatever else a card holds
        if name not in HANDLED and name != "token_space":
            lines += ["", f"### {name}", "", *_json_block(value)]
    return "\n".join(lines) + "\n"


def _summary_value(name: str, value: Any) -> str:
    if name == "wall_time_s" and isinstance(value, (int, float)):
        return _duration(float(value))
    if name == "trained" and isinstance(value, bool):
        return "yes" if value else "no (random weights)"
    if name == "steps" and value == 0:
        return "0 (the card was made again for earlier weights: see `init_from` in the training config)"
    return _inline(value)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _inline(value)


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return value.replace("|", "\\|")
    return json.dumps(value, ensure_ascii=False).replace("|", "\\|")


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> list[str]:
    return [f"| {header[0]} | {header[1]} |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]


def _settings(config: dict[str, Any]) -> list[str]:
    """A config as a table of dotted paths (`transformer.dim`), the names a
    `--config` file uses, so a run can be reproduced from the page."""
    return _table(("setting", "value"), [(f"`{k}`", _inline(v)) for k, v in _flatten(config, "")])


def _flatten(value: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            rows += _flatten(item, f"{path}.")
        else:
            rows.append((path, item))
    return rows


def _json_block(value: Any) -> list[str]:
    return ["```json", json.dumps(value, indent=2, ensure_ascii=False), "```"]

