from __future__ import annotations

import numpy as np
import pytest

from hiermusic.v1 import tensor_pb2
from hiermusic.services.common.tensors import Bound, TensorError, decode, encode, is_unset

F32, I64 = tensor_pb2.DTYPE_FLOAT32, tensor_pb2.DTYPE_INT64


def test_round_trip_is_exact_and_little_endian():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    msg = encode(a)
    assert msg.dtype == I64 and list(msg.shape) == [2, 3]
    assert msg.data[:8] == (0).to_bytes(8, "little") and msg.data[8:16] == (1).to_bytes(8, "little")
    assert (decode(msg, "x", I64, [2, None]) == a).all()
    b = np.random.default_rng(0).standard_normal((4,)).astype(">f4")  # big-endian input still travels LE
    assert np.array_equal(decode(encode(b), "y", F32, [4]), b.astype(np.float32))


@pytest.mark.parametrize(
    "message, words",
    [
        (encode(np.zeros(3, dtype=np.float32)), ["tok", "dtype DTYPE_FLOAT32", "expected DTYPE_INT64"]),
        (encode(np.zeros((3, 2), dtype=np.int64)), ["tok", "shape [3, 2]", "expected [*]"]),
        (encode(np.zeros(0, dtype=np.int64)), ["tok", "empty"]),
        (tensor_pb2.Tensor(dtype=I64, shape=[4], data=b"\0" * 8), ["tok", "8 bytes", "needs 32"]),
        (encode(np.array([3, 9], dtype=np.int64)), ["tok", "[0, 8)"]),
    ],
)
def test_bad_token_tensors_name_the_field(message, words):
    with pytest.raises(TensorError) as info:
        decode(message, "tok", I64, [None], max_value=8)
    for word in words:
        assert word in str(info.value)


def test_non_finite_floats_are_refused():
    with pytest.raises(TensorError, match="emb: contains NaN"):
        decode(encode(np.array([1.0, np.inf], dtype=np.float32)), "emb", F32, [2])


def test_finite_but_huge_floats_are_refused():
    with pytest.raises(TensorError, match="emb: values up to 3e"):
        decode(encode(np.array([1.0, 3e38], dtype=np.float32)), "emb", F32, [2])
    assert decode(encode(np.array([-50.0, 1e4], dtype=np.float32)), "emb", F32, [2]).tolist() == [-50.0, 1e4]


def test_unset_optional_tensor():
    assert is_unset(tensor_pb2.Tensor())
    assert not is_unset(encode(np.zeros(1, dtype=np.float32)))


def test_a_size_past_its_bound_is_refused_from_the_shape_before_the_data():
    no_data = tensor_pb2.Tensor(dtype=I64, shape=[2, 10**6])  # never looked at
    with pytest.raises(TensorError, match=r"^prefix: 1000000 along dimension 1, at most 99 \(the chunk\)$"):
        decode(no_data, "prefix", I64, [2, None], bound=Bound(1, 99, "the chunk"))
    with pytest.raises(TensorError, match="prefix: dtype DTYPE_INT64, expected DTYPE_FLOAT32"):  # dtype and rank first
        decode(no_data, "prefix", F32, [2, None], bound=Bound(1, 99, "the chunk"))
    with pytest.raises(TensorError, match="prefix: 0 bytes of data"):  # within its bound: on to the data
        decode(no_data, "prefix", I64, [2, None], bound=Bound(1, 10**6, "the chunk"))


def test_a_shape_of_many_dimensions_is_named_in_a_short_message():
    # 200,000 dimensions in the message would outgrow gRPC's trailers (RESOURCE_EXHAUSTED instead of the refusal).
    with pytest.raises(TensorError) as info:
        decode(tensor_pb2.Tensor(dtype=I64, shape=[3] * 200_000), "tok", I64, [None])
    assert str(info.value) == "tok: shape [3, 3, 3, 3, 3, 3, 3, 3, ...] (200000 dimensions), expected [*]"


def test_a_shape_whose_size_overflows_int64_is_not_taken_for_no_data():
    # 2**61 * 8 elements wrap to 0 in int64: the empty data would have matched.
    with pytest.raises(TensorError, match=r"x: 0 bytes of data, shape \[2305843009213693952, 8\] needs"):
        decode(tensor_pb2.Tensor(dtype=F32, shape=[2**61, 8]), "x", F32, [None, None])
