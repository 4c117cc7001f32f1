"""A copy of a level's bundled checkpoint whose card says something else (a
new version, another token space): what a reload test loads in place."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.common.checkpoint import card_path


def bundled_copy(level: str, target: Path, version: str, **token_space: object) -> Path:
    """The level's bundled weights at `target` (a .safetensors path) under a
    card naming `version`, with the fields `token_space` changed in the
    model's config (what its ModelInfo reports); returns `target`."""
    source = bundled_checkpoint(level)
    assert source is not None, f"no bundled {level} weights"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    card = json.loads(card_path(source).read_text())
    card["version"] = version
    card["config"]["token_space"].update(token_space)
    card_path(target).write_text(json.dumps(card, indent=2))
    return target
