"""The temporal level's gRPC service: fine tokens and audio for one chunk."""
from __future__ import annotations

import grpc

from hiermusic.v1 import contract_pb2, levels_pb2, levels_pb2_grpc, tensor_pb2
from hiermusic.services.common.chunk_context import decode_context, decode_prefix, decode_summary, trace_summaries
from hiermusic.services.common.metrics import LEVEL_CHUNKS
from hiermusic.services.common.model_control import add_model_control
from hiermusic.services.common.model_slot import ModelSlot, slot_of
from hiermusic.services.common.sampling_check import check_sampling
from hiermusic.services.common.server import invalid_argument
from hiermusic.services.common.tensors import decode, encode

SERVICE_NAME = levels_pb2.DESCRIPTOR.services_by_name["TemporalLevel"].full_name


class TemporalServicer(levels_pb2_grpc.TemporalLevelServicer):
    def __init__(self, slot: ModelSlot) -> None:  # serving a registered hiermusic.temporal class
        self.slot = slot

    def Describe(self, request: contract_pb2.DescribeRequest, context: grpc.ServicerContext) -> contract_pb2.ModelInfo:
        return self.slot.info

    def Render(self, request: levels_pb2.RenderRequest, context: grpc.ServicerContext) -> levels_pb2.RenderResponse:
        plugin = self.slot.plugin  # this call's model, whatever a reload swaps in meanwhile
        space = plugin.token_space
        with invalid_argument(context):
            check_sampling(request.sampling)
            ctx = decode_context(request.context, space, plugin.max_frames)
            coarse = decode(
                request.coarse_tokens,
                "coarse_tokens",
                tensor_pb2.DTYPE_INT64,
                [space.coarse_codebooks, ctx.num_frames],
                max_value=space.codebook_size,
            )
            summary = decode_summary(request.summary, "summary", space)
            prefix = decode_prefix(
                request.prefix_tokens, "prefix_tokens", space.codebooks - space.coarse_codebooks, space, ctx.num_frames
            )
        with self.slot.gate.hold(context, "Render"):
            fine, audio, summary_out = plugin.render(
                ctx,
                coarse,
                summary,
                prefix,
                request.sampling.seed,
                request.sampling.temperature,
                request.sampling.top_k,
            )
        LEVEL_CHUNKS.labels("temporal").inc()
        out = encode(summary_out)
        digest_in, digest_out = trace_summaries(request.summary, out)
        return levels_pb2.RenderResponse(
            fine_tokens=encode(fine),
            audio=encode(audio),
            summary=out,
            summary_in_sha256=digest_in,
            summary_out_sha256=digest_out,
            model=plugin.info(),
            # What reached this level, so the trace shows a rule-break arriving.
            rule_breaks=ctx.rule_breaks,
        )


def add_to_server(model, server: grpc.Server) -> None:
    """Serves `model` (a ModelSlot, or a plugin to hold in one) and its ModelControl."""
    slot = slot_of("temporal", model)
    levels_pb2_grpc.add_TemporalLevelServicer_to_server(TemporalServicer(slot), server)
    add_model_control(slot, server)
