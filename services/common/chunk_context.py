"""Decoding and validating what the acoustic and temporal levels receive per
chunk: the plan context, the summary tokens, the overlap prefix and the
thematic memory."""
from __future__ import annotations

import hashlib

import numpy as np
import structlog

from hiermusic.v1 import levels_pb2, tensor_pb2
from hiermusic.services.common.chunk_layout import max_semantic_tokens, piece_frames, semantic_frames
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import ChunkInputs
from hiermusic.services.common.limits import MAX_DURATION_S, MAX_SEMANTIC_MARGIN_S
from hiermusic.services.common.tensors import Bound, TensorError, decode, is_unset
from hiermusic.services.common.thematic_memory import MemoryInputs

F32, I64 = tensor_pb2.DTYPE_FLOAT32, tensor_pb2.DTYPE_INT64


def decode_context(message: levels_pb2.ChunkContext, space: TokenSpaceConfig, max_frames: int) -> ChunkInputs:
    """A chunk's plan context, every size checked against what a chunk of at
    most `max_frames` frames (ModelInfo.max_chunk_frames) inside the longest
    piece can need, from the shapes before any data is read."""
    if not 0 < message.num_frames <= max_frames:
        raise TensorError(f"context.num_frames: {message.num_frames}, this model takes 1..{max_frames} "
                          f"(ModelInfo.max_chunk_frames)")
    if message.start_frame < 0 or message.semantic_start < 0 or message.chunk_index < 0:
        raise TensorError("context: start_frame, semantic_start and chunk_index must be >= 0")
    frames, tokens_most = piece_frames(space), max_semantic_tokens(space, max_frames)
    if message.start_frame + message.num_frames > frames:
        raise TensorError(f"context.start_frame: {message.start_frame} + {message.num_frames} frames ends past "
                          f"the longest piece ({frames} frames, {MAX_DURATION_S:g} s)")
    if message.semantic_start >= semantic_frames(MAX_DURATION_S, space.semantic_rate):
        raise TensorError(f"context.semantic_start: {message.semantic_start} lies past the longest piece "
                          f"({MAX_DURATION_S:g} s)")
    tokens = decode(message.semantic_tokens, "context.semantic_tokens", I64, [None], max_value=space.semantic_vocab_size,
                    bound=Bound(0, tokens_most, f"a chunk of {max_frames} frames with {MAX_SEMANTIC_MARGIN_S:g} s "
                                                f"of plan each side"))
    # A context holds the sections its tokens touch: at most one per token.
    sections = decode(message.section_embeddings, "context.section_embeddings", F32, [None, space.embedding_dim],
                      bound=Bound(0, tokens.shape[0], "one section per semantic token"))
    frame_sections = decode(
        message.frame_sections, "context.frame_sections", I64, [tokens.shape[0]], max_value=sections.shape[0]
    )
    text = decode(message.text_embedding, "context.text_embedding", F32, [space.embedding_dim])
    energy = np.asarray(message.section_energy, dtype=np.float32)
    if energy.shape != (sections.shape[0],):
        raise TensorError(
            f"context.section_energy: {energy.shape[0]} values for {sections.shape[0]} sections"
        )
    if not ((energy >= 0) & (energy <= 1)).all():  # NaN fails too
        raise TensorError("context.section_energy: values must lie in 0..1 (a section's energy)")
    if message.drums not in levels_pb2.Drums.values():
        raise TensorError(f"context.drums: {message.drums} is not a Drums value")
    section_drums = None
    if len(message.section_drums):
        section_drums = np.asarray(message.section_drums, dtype=np.int64)
        if section_drums.shape != (sections.shape[0],):
            raise TensorError(f"context.section_drums: {len(section_drums)} values for {sections.shape[0]} sections")
        if not np.isin(section_drums, list(levels_pb2.Drums.values())).all():
            raise TensorError("context.section_drums: a value is not a Drums value")
    rule_breaks = []
    for name in ("modal_interchange", "displacement"):
        flags = getattr(message, f"section_{name}")
        if len(flags) not in (0, sections.shape[0]):
            raise TensorError(f"context.section_{name}: {len(flags)} values for {sections.shape[0]} sections")
        if any(flags):
            rule_breaks.append(name)
    displaced = np.asarray(message.section_displacement, dtype=bool) if any(message.section_displacement) else None
    beats = None
    if not is_unset(message.frame_beats):
        beats = decode(message.frame_beats, "context.frame_beats", F32, [message.num_frames, 2])
    return ChunkInputs(
        chunk_index=message.chunk_index,
        start_frame=message.start_frame,
        num_frames=message.num_frames,
        semantic_start=message.semantic_start,
        semantic_tokens=tokens,
        frame_sections=frame_sections,
        section_embeddings=sections,
        text_embedding=text,
        section_energy=energy,
        frame_beats=beats,
        drums=message.drums,
        section_drums=section_drums,
        rule_breaks=tuple(rule_breaks),
        section_displaced=displaced,
    )


def decode_summary(message: tensor_pb2.Tensor, field: str, space: TokenSpaceConfig) -> np.ndarray | None:
    """None on the first chunk of a song, where no summary exists yet."""
    if is_unset(message):
        return None
    return decode(message, field, F32, [space.summary_tokens, space.summary_dim])


def decode_prefix(
    message: tensor_pb2.Tensor, field: str, codebooks: int, space: TokenSpaceConfig, num_frames: int
) -> np.ndarray | None:
    if is_unset(message):
        return None
    return decode(message, field, I64, [codebooks, None], max_value=space.codebook_size,
                  bound=Bound(1, num_frames - 1, f"a prefix must leave frames to generate in {num_frames}"))


def decode_memory(
    message: levels_pb2.ThematicMemory, field: str, space: TokenSpaceConfig, max_frames: int, num_frames: int
) -> MemoryInputs:
    """A chunk's thematic memory: at most `max_frames` frames of valid coarse
    codes, lying inside the chunk's `num_frames`. The frame count is checked
    from the shape before the data is read."""
    if max_frames <= 0:
        raise TensorError(f"{field}: this model takes no thematic memory (ModelInfo.max_memory_frames is 0)")
    if is_unset(message.coarse_tokens):
        raise TensorError(f"{field}.coarse_tokens: missing")
    codes = decode(message.coarse_tokens, f"{field}.coarse_tokens", I64, [space.coarse_codebooks, None],
                   max_value=space.codebook_size, bound=Bound(1, max_frames, "ModelInfo.max_memory_frames"))
    if message.of_section < 0:
        raise TensorError(f"{field}.of_section: {message.of_section}, a section index must be >= 0")
    if not 0 <= message.chunk_offset <= num_frames - codes.shape[1]:
        raise TensorError(f"{field}.chunk_offset: {message.chunk_offset} with {codes.shape[1]} frames does not lie "
                          f"inside the chunk's {num_frames} frames")
    return MemoryInputs(message.of_section, message.chunk_offset, codes)


def digest(message: tensor_pb2.Tensor) -> str:
    """sha256 of a tensor as it travelled, so sender and receiver can compare."""
    return hashlib.sha256(message.data).hexdigest() if not is_unset(message) else ""


def trace_summaries(received: tensor_pb2.Tensor, returned: tensor_pb2.Tensor) -> tuple[str, str]:
    """Digests of the summary a level received and of the one it returns, also
    logged, so the chain across chunks can be checked from the logs alone."""
    digest_in, digest_out = digest(received), digest(returned)
    structlog.get_logger().info("summary", summary_in_sha256=digest_in, summary_out_sha256=digest_out)
    return digest_in, digest_out
