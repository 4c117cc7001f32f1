"""Config dataclasses from JSON dicts: a model card's, or a config file's,
where a misspelt field must be refused, not ignored. Free of torch, so the
scheduler's processes that read their config stay light."""
from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

C = TypeVar("C")


class UnknownFieldError(ValueError):
    """A config file's field that its dataclass lacks; the message starts with its dotted path."""


def config_from_dict(cls: type[C], data: dict[str, Any], path: str = "") -> C:
    """Rebuilds a (nested) config dataclass from a dict: a model card's or a
    config file's. A field the dataclass lacks (a typo, a retired option) is
    refused by its dotted path, which `path` prefixes, never ignored."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = [key for key in data if key not in names]
    if unknown:
        raise UnknownFieldError(f"{path}{unknown[0]}: unknown field ({cls.__name__} has {', '.join(names)})")
    kwargs = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        sub = f.type if isinstance(f.type, type) else typing.get_type_hints(cls)[f.name]
        nested = is_dataclass(sub) and isinstance(value, dict)
        kwargs[f.name] = config_from_dict(sub, value, f"{path}{f.name}.") if nested else value
    return cls(**kwargs)
