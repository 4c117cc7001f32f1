from __future__ import annotations

import math
import re

import pytest

from hiermusic.services.common.limits import (MAX_DURATION_S, MAX_PROMPT_CHARS, MIN_DURATION_S, check_duration,
                                               check_piece, clipped)


@pytest.mark.parametrize(("prompt", "duration", "message"), [
    ("  ", 10.0, "prompt is empty; describe the music to make"),
    ("x" * (MAX_PROMPT_CHARS + 1), 10.0, f"prompt is {MAX_PROMPT_CHARS + 1} characters long; at most"),
    ("jazz", 0.0, "duration_s 0.0: expected 1 to 600 seconds"),
    ("jazz", 1e-300, "duration_s 1e-300"),
    ("jazz", 0.5, "duration_s 0.5"),
    ("jazz", -3.0, "duration_s -3.0"),
    ("jazz", MAX_DURATION_S + 0.5, "duration_s 600.5"),
    ("jazz", math.nan, "duration_s nan"),
    ("jazz", math.inf, "duration_s inf"),
])
def test_a_bad_piece_is_refused_with_what_the_user_sees(prompt, duration, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_piece(prompt, duration)


def test_the_caller_names_the_duration_and_the_limits_are_inclusive():
    with pytest.raises(ValueError, match=r"^--duration -1\.0: expected"):
        check_duration(-1.0, "--duration")
    check_piece("a folk song", MAX_DURATION_S)
    check_piece("x" * MAX_PROMPT_CHARS, MIN_DURATION_S)


def test_a_caller_s_string_is_clipped_for_a_message():
    assert clipped("verse") == "verse"
    assert clipped("x" * 41) == "x" * 40 + "..." and clipped("x" * 10**6, 5) == "xxxxx..."
