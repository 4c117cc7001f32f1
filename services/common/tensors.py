"""Tensor <-> protobuf, with the validation every service runs before a model
sees its input: a bad tensor becomes a `TensorError` naming the field."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hiermusic.v1 import tensor_pb2

_NUMPY = {
    tensor_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    tensor_pb2.DTYPE_INT64: np.dtype("<i8"),
    tensor_pb2.DTYPE_INT32: np.dtype("<i4"),
    tensor_pb2.DTYPE_FLOAT16: np.dtype("<f2"),
}
_PROTO = {v.newbyteorder("="): k for k, v in _NUMPY.items()}

# Every float a level is sent (embeddings, summaries) is a model's feature of
# order one; finite but huge ones (3e38) overflow inside the model, so they
# are refused here with the field's name instead of failing there.
MAX_FLOAT_MAGNITUDE = 1e4


class TensorError(ValueError):
    """An input tensor that a service refuses; the message names the field."""


@dataclass(frozen=True)
class Bound:
    """The most a tensor may hold along one dimension, and why (for the message)."""

    dim: int
    most: int
    why: str


def encode(value: np.ndarray) -> tensor_pb2.Tensor:
    """Encodes an array (or a torch tensor, moved to the CPU). torch is not
    imported here so the scheduler's processes stay light."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.ascontiguousarray(value)
    dtype = _PROTO.get(array.dtype.newbyteorder("="))
    if dtype is None:
        raise TypeError(f"cannot encode dtype {array.dtype}")
    return tensor_pb2.Tensor(
        dtype=dtype, shape=list(array.shape), data=array.astype(_NUMPY[dtype], copy=False).tobytes()
    )


def decode(
    message: tensor_pb2.Tensor,
    field: str,
    dtype: int,
    shape: Sequence[int | None],
    *,
    max_value: int | None = None,
    bound: Bound | None = None,
) -> np.ndarray:
    """Checks dtype, shape (None is any size > 0), the `bound` on one
    dimension (from the shape: a size past its cap is refused before the data
    is looked at), byte size, finite floats within MAX_FLOAT_MAGNITUDE and,
    for token tensors, the id range; returns a native-endian array."""
    if message.dtype != dtype:
        raise TensorError(
            f"{field}: dtype {_name(message.dtype)}, expected {_name(dtype)}"
        )
    got = tuple(message.shape)
    if len(got) != len(shape) or any(w is not None and g != w for g, w in zip(got, shape)):
        want = "[" + ", ".join("*" if w is None else str(w) for w in shape) + "]"
        raise TensorError(f"{field}: shape {_shape_text(got)}, expected {want}")
    if any(g <= 0 for g in got):
        raise TensorError(f"{field}: empty tensor (shape {list(got)})")
    if bound is not None and got[bound.dim] > bound.most:
        raise TensorError(f"{field}: {got[bound.dim]} along dimension {bound.dim}, at most {bound.most} ({bound.why})")
    np_dtype = _NUMPY[dtype]
    expected = math.prod(got) * np_dtype.itemsize  # Python ints: a shape of [2**40, 2**40] must not wrap
    if len(message.data) != expected:
        raise TensorError(
            f"{field}: {len(message.data)} bytes of data, shape {list(got)} needs {expected}"
        )
    array = np.frombuffer(message.data, dtype=np_dtype).reshape(got).astype(np_dtype.newbyteorder("="))
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise TensorError(f"{field}: contains NaN or infinite values")
    if array.dtype.kind == "f" and np.abs(array).max() > MAX_FLOAT_MAGNITUDE:
        raise TensorError(f"{field}: values up to {float(np.abs(array).max()):.3g} in magnitude; "
                          f"at most {MAX_FLOAT_MAGNITUDE:g}")
    if max_value is not None and (array.min() < 0 or array.max() >= max_value):
        raise TensorError(
            f"{field}: token ids must lie in [0, {max_value}), got [{array.min()}, {array.max()}]"
        )
    return array


def is_unset(message: tensor_pb2.Tensor) -> bool:
    """An unset optional tensor field (e.g. no summary on chunk 0)."""
    return message.dtype == tensor_pb2.DTYPE_UNSPECIFIED and not message.shape and not message.data


def _shape_text(shape: Sequence[int]) -> str:
    """A shape as a message shows it: a caller may send 200,000 dimensions,
    which in full would outgrow the status message's room in gRPC's trailers."""
    if len(shape) <= 8:
        return str(list(shape))
    return f"[{', '.join(map(str, shape[:8]))}, ...] ({len(shape)} dimensions)"


def _name(dtype: int) -> str:
    return tensor_pb2.DType.Name(dtype) if dtype in tensor_pb2.DType.values() else f"dtype {dtype}"
