from __future__ import annotations

import pytest

from hiermusic.services.common.sampling_check import check_sampling
from hiermusic.v1 import levels_pb2


@pytest.mark.parametrize("fields", [{}, {"temperature": 0.9, "top_k": 64}, {"temperature": 1e-3},
                                    {"guidance_scale": 3.0}])
def test_usable_settings_pass(fields):
    check_sampling(levels_pb2.Sampling(**fields))


@pytest.mark.parametrize("fields, named", [
    ({"temperature": float("nan")}, "sampling.temperature"),
    ({"temperature": 1e-45}, "sampling.temperature"),
    ({"temperature": -1.0}, "sampling.temperature"),
    ({"temperature": float("inf")}, "sampling.temperature"),
    ({"temperature": 1e9}, "sampling.temperature"),
    ({"top_k": -1}, "sampling.top_k"),
    ({"guidance_scale": float("nan")}, "sampling.guidance_scale"),
    ({"guidance_scale": -2.0}, "sampling.guidance_scale"),
])
def test_unusable_settings_are_refused_by_name(fields, named):
    with pytest.raises(ValueError, match=named):
        check_sampling(levels_pb2.Sampling(**fields))
