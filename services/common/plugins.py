"""Plugin registry on Python entry points: one group per level plus the codec.
A third-party package registers a model under `hiermusic.<level>`."""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

GROUPS = {
    "semantic": "hiermusic.semantic",
    "acoustic": "hiermusic.acoustic",
    "temporal": "hiermusic.temporal",
    "codec": "hiermusic.codec",
}


class UnknownPluginError(LookupError):
    pass


def available(kind: str) -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUPS[kind]))


def load_plugin(kind: str, name: str) -> Any:
    """The class registered as `name` for `kind`, or an error listing the choices."""
    if kind not in GROUPS:
        raise UnknownPluginError(f"unknown plugin kind {kind!r}; known: {sorted(GROUPS)}")
    matches = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name == name]
    if not matches:
        raise UnknownPluginError(
            f"unknown {kind} plugin {name!r}; registered under {GROUPS[kind]}: "
            f"{', '.join(available(kind)) or 'none'}"
        )
    return matches[0].load()
