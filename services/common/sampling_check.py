"""The sampling settings any caller may send with a level request, checked
before a model sees them: a NaN, a denormal or a huge temperature is the
caller's mistake (INVALID_ARGUMENT naming the field), not a model failure."""
from __future__ import annotations

import math

from hiermusic.v1 import levels_pb2

# 0 means the level's own setting. Below MIN_TEMPERATURE logits / temperature
# overflow float32 (1e-45 did); past MAX_TEMPERATURE every token is as likely.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 100.0
MAX_TOP_K = 1 << 20
MAX_GUIDANCE = 100.0


def check_sampling(sampling: levels_pb2.Sampling, field: str = "sampling") -> None:
    """Raises ValueError naming the field unless every setting is usable."""
    t = sampling.temperature
    if not (t == 0 or MIN_TEMPERATURE <= t <= MAX_TEMPERATURE):  # NaN fails both
        raise ValueError(f"{field}.temperature {t!r}: expected 0 (the level's own) "
                         f"or {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}")
    if not 0 <= sampling.top_k <= MAX_TOP_K:
        raise ValueError(f"{field}.top_k {sampling.top_k}: expected 0 (the level's own) to {MAX_TOP_K}")
    g = sampling.guidance_scale
    if not (math.isfinite(g) and 0 <= g <= MAX_GUIDANCE):
        raise ValueError(f"{field}.guidance_scale {g!r}: expected 0 (the level's own) to {MAX_GUIDANCE:g}")
