"""The acoustic level's gRPC service: one chunk of coarse codec tokens."""
from __future__ import annotations

import grpc

from hiermusic.v1 import contract_pb2, levels_pb2, levels_pb2_grpc
from hiermusic.services.common.chunk_context import (
    decode_context, decode_memory, decode_prefix, decode_summary, trace_summaries,
)
from hiermusic.services.common.metrics import LEVEL_CHUNKS
from hiermusic.services.common.model_control import add_model_control
from hiermusic.services.common.model_slot import ModelSlot, slot_of
from hiermusic.services.common.sampling_check import check_sampling
from hiermusic.services.common.server import invalid_argument
from hiermusic.services.common.tensors import encode

SERVICE_NAME = levels_pb2.DESCRIPTOR.services_by_name["AcousticLevel"].full_name


class AcousticServicer(levels_pb2_grpc.AcousticLevelServicer):
    def __init__(self, slot: ModelSlot) -> None:  # serving a registered hiermusic.acoustic class
        self.slot = slot

    def Describe(self, request: contract_pb2.DescribeRequest, context: grpc.ServicerContext) -> contract_pb2.ModelInfo:
        return self.slot.info

    def GenerateCoarse(
        self, request: levels_pb2.CoarseRequest, context: grpc.ServicerContext
    ) -> levels_pb2.CoarseResponse:
        plugin = self.slot.plugin  # this call's model, whatever a reload swaps in meanwhile
        space = plugin.token_space
        with invalid_argument(context):
            check_sampling(request.sampling)
            ctx = decode_context(request.context, space, plugin.max_frames)
            summary = decode_summary(request.summary, "summary", space)
            prefix = decode_prefix(
                request.prefix_tokens, "prefix_tokens", space.coarse_codebooks, space, ctx.num_frames
            )
            memory = None
            if request.HasField("memory"):
                memory = decode_memory(
                    request.memory, "memory", space, plugin.max_memory_frames, ctx.num_frames
                )
        with self.slot.gate.hold(context, "GenerateCoarse"):
            codes, summary_out = plugin.generate(
                ctx,
                summary,
                prefix,
                request.sampling.seed,
                request.sampling.temperature,
                request.sampling.top_k,
                memory,
            )
        LEVEL_CHUNKS.labels("acoustic").inc()
        out = encode(summary_out)
        digest_in, digest_out = trace_summaries(request.summary, out)
        return levels_pb2.CoarseResponse(
            coarse_tokens=encode(codes),
            summary=out,
            summary_in_sha256=digest_in,
            summary_out_sha256=digest_out,
            model=plugin.info(),
            # What reached this level, so the trace shows a rule-break arriving.
            rule_breaks=ctx.rule_breaks,
            memory_frames=memory.frames if memory is not None else 0,
            memory_of_section=memory.of_section if memory is not None else -1,
        )


def add_to_server(model, server: grpc.Server) -> None:
    """Serves `model` (a ModelSlot, or a plugin to hold in one) and its ModelControl."""
    slot = slot_of("acoustic", model)
    levels_pb2_grpc.add_AcousticLevelServicer_to_server(AcousticServicer(slot), server)
    add_model_control(slot, server)
