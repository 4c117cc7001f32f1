"""The plan as it streams in from the semantic level (PlanStream): the form at
once, then the semantic tokens block by block, read only as far as the next
chunk needs. The first chunk then waits for its own seconds of the plan, not
for the whole piece's: on the 2-core CPU a 60 s plan takes 1-2 s, a 600 s
plan ten times that."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from hiermusic.v1 import levels_pb2, tensor_pb2
from hiermusic.services.common.tensors import TensorError, decode


class PlanStreamError(RuntimeError):
    """The semantic level's plan stream broke its contract; the message says how."""


class PlanReader:
    """Reads `parts` (each a serialized PlanPart with the seconds since the
    plan was asked for) lazily. The first part must hold the form; the tokens
    that follow must add up to the form's frames exactly."""

    def __init__(self, parts: Iterator[tuple[bytes, float]]) -> None:
        self._parts = parts
        self.seconds = 0.0  # when the last part read so far arrived
        self._blocks: list[np.ndarray] = []
        self._count = 0
        self._done = False
        first = self._next()
        if first is None or not first.HasField("form"):
            raise PlanStreamError("semantic level's plan stream did not begin with the form")
        self.form = first.form
        try:
            self.total = len(decode(self.form.frame_sections, "frame_sections", tensor_pb2.DTYPE_INT64, [None]))
        except TensorError as err:
            raise PlanStreamError(f"semantic level returned a bad frame_sections: {err}") from None
        self._add(first)

    @property
    def tokens(self) -> np.ndarray:
        """int64 [n]: the tokens read so far (n <= total)."""
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0] if self._blocks else np.zeros(0, np.int64)

    def until(self, frames: int) -> np.ndarray:
        """The tokens, read on until there are at least min(frames, total)."""
        while self._count < min(frames, self.total):
            part = self._next()
            if part is None:
                raise PlanStreamError(f"semantic level's plan stream ended after {self._count} of "
                                      f"{self.total} tokens")
            if part.HasField("form"):
                raise PlanStreamError("semantic level sent the form twice in one plan stream")
            self._add(part)
        return self.tokens

    def finish(self) -> np.ndarray:
        """All the tokens, after checking the stream holds no more."""
        tokens = self.until(self.total)
        if not self._done and self._next() is not None:
            raise PlanStreamError(f"semantic level sent more than the {self.total} tokens its form has frames for")
        return tokens

    def _add(self, part: levels_pb2.PlanPart) -> None:
        if not part.HasField("semantic_tokens"):
            return
        try:
            block = decode(part.semantic_tokens, "semantic_tokens", tensor_pb2.DTYPE_INT64, [None])
        except TensorError as err:
            raise PlanStreamError(f"semantic level returned bad semantic_tokens: {err}") from None
        if self._count + len(block) > self.total:
            raise PlanStreamError(f"semantic level sent more than the {self.total} tokens its form has frames for")
        self._blocks.append(block)
        self._count += len(block)

    def _next(self) -> levels_pb2.PlanPart | None:
        if self._done:
            return None
        try:
            data, self.seconds = next(self._parts)
        except StopIteration:
            self._done = True
            return None
        return levels_pb2.PlanPart.FromString(data)
