"""Random mutations of a valid request for the fuzz test (test_fuzz.py): the
message stays decodable protobuf, its content is what a careless or hostile
caller might send: NaN, infinite, huge or negative numbers, tensors of the
wrong shape, dtype or length, repeated fields far past the services' caps
(within the message limit), empty fields, enum values that name nothing and
unicode junk in strings. Every choice is drawn from the caller's
random.Random, so a seed repeats a run."""
from __future__ import annotations

import math
import random

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from hiermusic.services.common.tensors import encode
from hiermusic.v1 import tensor_pb2

F = FieldDescriptor
_FLOATS = (float("nan"), float("inf"), float("-inf"), 3e38, -3e38, 1e300, 1e-45, 1e-300, -1.0, 0.0, 0.04, 600.0001)
_INTS = {
    F.TYPE_INT32: (-1, 0, 2**31 - 1, -(2**31), 7, 100_000),
    F.TYPE_INT64: (-1, 0, 2**63 - 1, -(2**63), 2**40, 100_000),
    F.TYPE_UINT32: (0, 2**32 - 1, 1),
    F.TYPE_UINT64: (0, 2**64 - 1, 2**63),
}
_ENUMS = (-1, 3, 7, 2**31 - 1, -(2**31))
_JUNK = ("", " ", "\x00", "\u202e\u0301\u200b", "🎵" * 50, "Ω≈ç√∫˜µ≤≥÷", "𝕳𝖊𝖑𝖑𝖔", "\t\n\r", "a\x00b", "ﷺ" * 10)
# Past every cap on a string (MAX_PROMPT_CHARS is 2000); kept to a few hundred
# kilobytes, so a thousand requests cross the loopback in seconds.
_LONG = (2001, 100_000)
_MAX_REPEATS = 200_000
_MAX_TENSOR_ELEMENTS = 250_000


def mutate(message: Message, rng: random.Random) -> str:
    """Mutates one field somewhere in `message` in place; returns what it did
    (for a failure's report). A message without fields is left as it is."""
    path, target = "", message
    while True:
        fields = target.DESCRIPTOR.fields
        if not fields:
            return f"{path or '(no fields)'}: unchanged"
        field = rng.choice(fields)
        name = f"{path}.{field.name}" if path else field.name
        if field.message_type is not None and field.message_type.full_name == tensor_pb2.Tensor.DESCRIPTOR.full_name:
            if field.is_repeated:
                return f"{name}: {_repeated_message(target, field, rng)}"
            if rng.random() < 0.6:
                return f"{name}: {_tensor(getattr(target, field.name), rng)}"
        if field.is_repeated:
            if field.message_type is not None:
                items = getattr(target, field.name)
                if len(items) and rng.random() < 0.4:  # into one element
                    i = rng.randrange(len(items))
                    path, target = f"{name}[{i}]", items[i]
                    continue
                return f"{name}: {_repeated_message(target, field, rng)}"
            return f"{name}: {_repeated_scalar(target, field, rng)}"
        if field.message_type is not None:
            if target.HasField(field.name) and rng.random() < 0.2:
                target.ClearField(field.name)
                return f"{name}: cleared"
            path, target = name, getattr(target, field.name)
            target.SetInParent()
            continue
        value = _scalar(field, rng)
        setattr(target, field.name, value)
        return f"{name} = {_short(value)}"


def _scalar(field: FieldDescriptor, rng: random.Random):
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return rng.choice(_FLOATS) if rng.random() < 0.8 else rng.uniform(-1e6, 1e6)
    if field.type in _INTS:
        return rng.choice(_INTS[field.type])
    if field.type == F.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == F.TYPE_ENUM:
        return rng.choice(_ENUMS + tuple(v.number for v in field.enum_type.values))
    if field.type == F.TYPE_STRING:
        return _string(rng)
    if field.type == F.TYPE_BYTES:
        return rng.randbytes(rng.choice((0, 1, 7, 1000)))
    raise AssertionError(f"no mutation for field type {field.type}")


def _string(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(_JUNK)
    if roll < 0.7:  # random code points, surrogates left out (protobuf strings are UTF-8)
        return "".join(chr(rng.choice((rng.randrange(0x20, 0xD800), rng.randrange(0xE000, 0x110000))))
                       for _ in range(rng.randrange(1, 200)))
    return rng.choice("x🎵 ") * rng.choice(_LONG)


def _repeated_scalar(target: Message, field: FieldDescriptor, rng: random.Random) -> str:
    values = getattr(target, field.name)
    roll = rng.random()
    if roll < 0.3:
        del values[:]
        return "emptied"
    value = _scalar(field, rng)
    if field.type == F.TYPE_STRING:
        value = value[:100]  # the count is what is tested here
    count = rng.choice((1, 3, 1000, _MAX_REPEATS)) if roll < 0.8 else 1
    values.extend([value] * count)
    return f"+{count} x {_short(value)}"


def _repeated_message(target: Message, field: FieldDescriptor, rng: random.Random) -> str:
    items = getattr(target, field.name)
    roll = rng.random()
    if roll < 0.3 or not len(items):
        if len(items):
            del items[:]
            return "emptied"
        items.add()
        return "one default element"
    count = rng.choice((1, 400, 5000))
    copies = [type(items[0])() for _ in range(count)]
    for copy in copies:
        copy.CopyFrom(items[rng.randrange(len(items))])
    items.extend(copies)
    return f"+{count} copies"


def _tensor(tensor: tensor_pb2.Tensor, rng: random.Random) -> str:
    """A tensor whose bytes match its shape (so it gets past the byte count to
    the checks behind it) but whose values, shape or dtype are wrong, or one
    whose bytes do not match, or none at all."""
    roll = rng.random()
    if roll < 0.1:
        tensor.Clear()
        return "unset"
    if roll < 0.25:  # bytes that disagree with the shape
        data = tensor.data
        tensor.data = rng.choice((data[: len(data) // 2], data + b"\x01\x02\x03", b"", rng.randbytes(len(data) or 8)))
        return f"{len(tensor.data)} bytes for shape {list(tensor.shape)}"
    dtype = tensor.dtype if tensor.dtype in (tensor_pb2.DTYPE_FLOAT32, tensor_pb2.DTYPE_INT64) else \
        tensor_pb2.DTYPE_INT64
    shape = list(tensor.shape)
    if not 0 < len(shape) <= 3 or min(shape) < 0 or math.prod(shape) > _MAX_TENSOR_ELEMENTS:  # an earlier mutation's
        shape = [rng.choice((1, 3))]
    if roll < 0.5:  # the right shape, bad values
        values = _values(dtype, shape, rng)
        what = "bad values"
    elif roll < 0.75:  # another shape
        shape = _shape(shape, rng)
        values = _values(dtype, shape, rng, sane=rng.random() < 0.7)
        what = f"shape {shape}"
    else:  # another dtype, the same shape
        values = _values(dtype, shape, rng, sane=True)
        values = values.astype(rng.choice((np.float16, np.int32, np.float32, np.int64)))
        what = f"dtype {values.dtype}"
    tensor.CopyFrom(encode(values))
    return what


def _shape(shape: list[int], rng: random.Random) -> list[int]:
    roll = rng.random()
    if roll < 0.2:
        return []  # a scalar
    if roll < 0.4:
        return shape + [rng.choice((1, 2))]
    if roll < 0.5 and len(shape) > 1:
        return shape[1:]
    i = rng.randrange(len(shape))
    dim = rng.choice((0, 1, shape[i] - 1, shape[i] + 1, 2 * shape[i], 10_000, 100_000))
    shape = shape[:i] + [max(0, dim)] + shape[i + 1:]
    while math.prod(shape) > _MAX_TENSOR_ELEMENTS:
        shape[i] //= 2
    return shape


def _values(dtype: int, shape: list[int], rng: random.Random, sane: bool = False) -> np.ndarray:
    gen = np.random.default_rng(rng.randrange(2**32))
    if dtype == tensor_pb2.DTYPE_FLOAT32:
        values = gen.normal(0, 0.1, shape).astype(np.float32)
        if not sane and values.size:
            values.flat[gen.integers(values.size)] = rng.choice((np.nan, np.inf, -np.inf, 3e38, 1e5, -1e5))
        return values
    values = gen.integers(0, 4, shape, dtype=np.int64)
    if not sane and values.size:
        values.flat[gen.integers(values.size)] = rng.choice((-1, 512, 1024, 2**40, 2**63 - 1, -(2**63)))
    return values


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}... ({len(text)} chars)"
