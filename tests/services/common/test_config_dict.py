from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from hiermusic.services.common.config_dict import UnknownFieldError, config_from_dict


@dataclass
class Inner:
    depth: int = 2
    width: int = 8


@dataclass
class Outer:
    steps: int = 10
    inner: Inner = field(default_factory=Inner)


def test_nested_fields_are_rebuilt_and_the_rest_keep_their_defaults():
    config = config_from_dict(Outer, {"inner": {"depth": 4}})
    assert config == Outer(steps=10, inner=Inner(depth=4, width=8))


@pytest.mark.parametrize(("data", "path"), [
    ({"stepz": 3}, "stepz"),
    ({"inner": {"dept": 4}}, "inner.dept"),
])
def test_an_unknown_field_is_refused_by_its_path(data, path):
    with pytest.raises(UnknownFieldError, match=re.escape(f"cfg.{path}: unknown field (")):
        config_from_dict(Outer, data, path="cfg.")
