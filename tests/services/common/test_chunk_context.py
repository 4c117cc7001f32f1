from __future__ import annotations

import numpy as np
import pytest

from hiermusic.services.common.chunk_layout import PlanArrays, chunk_context, layout
from hiermusic.v1 import levels_pb2
from hiermusic.services.common.chunk_context import decode_context
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.tensors import TensorError, encode

SPACE = TokenSpaceConfig()


def context(**plan_fields) -> levels_pb2.ChunkContext:
    plan = PlanArrays(
        semantic_tokens=np.zeros(40, dtype=np.int64), frame_sections=np.zeros(40, dtype=np.int64),
        section_embeddings=np.ones((1, 256), dtype=np.float32), section_energy=np.array([0.5], dtype=np.float32),
        text_embedding=np.ones(256, dtype=np.float32), **plan_fields,
    )
    return chunk_context(plan, layout(160, 100, 20)[1], SPACE, margin_s=0.5)


def test_beats_and_drums_arrive_as_the_scheduler_sent_them():
    sent = context(beats=np.arange(0, 4, 0.5, dtype=np.float32), downbeats=np.arange(0, 4, 2.0, dtype=np.float32),
                   drums=levels_pb2.DRUMS_UNWANTED)
    got = decode_context(sent, SPACE, 500)
    assert got.frame_beats.shape == (80, 2)
    np.testing.assert_allclose(got.frame_beats[0], [3.2, 0.8], rtol=1e-6)  # frame 80: 1.6 s
    assert got.drums == levels_pb2.DRUMS_UNWANTED
    plain = decode_context(context(), SPACE, 500)
    assert plain.frame_beats is None and plain.drums == levels_pb2.DRUMS_UNSAID


def test_a_bad_beat_grid_or_drums_value_is_refused():
    sent = context(beats=np.arange(0, 4, 0.5, dtype=np.float32), downbeats=np.arange(0, 4, 2.0, dtype=np.float32))
    sent.frame_beats.CopyFrom(encode(np.zeros((79, 2), np.float32)))
    with pytest.raises(TensorError, match="frame_beats"):
        decode_context(sent, SPACE, 500)
    odd = context()
    odd.drums = 7
    with pytest.raises(TensorError, match="drums"):
        decode_context(odd, SPACE, 500)
