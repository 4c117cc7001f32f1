from __future__ import annotations

import pytest

from hiermusic.services.common.metrics import chunk_index_header


def test_a_chunk_index_header_is_read_when_it_is_one():
    assert chunk_index_header(None) == (None, "")
    assert chunk_index_header("0") == (0, "")
    assert chunk_index_header("17") == (17, "")


@pytest.mark.parametrize("value", ["1.5", "-1", "abc", "", "١٢", "9" * 30])
def test_anything_else_is_named_as_the_caller_s_mistake(value):
    index, problem = chunk_index_header(value)
    assert index is None and "x-chunk-index" in problem
