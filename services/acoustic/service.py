"""The acoustic level's gRPC service: one chunk of coarse codec tokens."""
from __future__ import annotations

import grpc

from hiermusic.v1 import contract_pb2, levels_pb2, levels_pb2_grpc
from hiermusic.services.common.chunk_context import (
    decode_context, decode_memory, decode_prefix, decode_summary, trace_summaries,
)
from hiermusic.services.common.metrics import LEVEL_CHUNKS
from hiermusic.services.common.sampling_check import check_sampling
from hiermusic.services.common.server import ModelGate, invalid_argument
from hiermusic.services.common.tensors import encode

SERVICE_NAME = levels_pb2.DESCRIPTOR.services_by_name["AcousticLevel"].full_name


class AcousticServicer(levels_pb2_grpc.AcousticLevelServicer):
    def __init__(self, plugin) -> None:  # plugin: a registered hiermusic.acoustic class
        self.plugin = plugin
        self.space = plugin.token_space
        self.gate = ModelGate("acoustic")

    def Describe(self, request: contract_pb2.DescribeRequest, context: grpc.ServicerContext) -> contract_pb2.ModelInfo:
        return self.plugin.info()

    def GenerateCoarse(
        self, request: levels_pb2.CoarseRequest, context: grpc.ServicerContext
    ) -> levels_pb2.CoarseResponse:
        with invalid_argument(context):
            check_sampling(request.sampling)
            ctx = decode_context(request.context, self.space, self.plugin.max_frames)
            summary = decode_summary(request.summary, "summary", self.space)
            prefix = decode_prefix(
                request.prefix_tokens, "prefix_tokens", self.space.coarse_codebooks, self.space, ctx.num_frames
            )
            memory = None
            if request.HasField("memory"):
                memory = decode_memory(
                    request.memory, "memory", self.space, self.plugin.max_memory_frames, ctx.num_frames
                )
        with self.gate.hold(context, "GenerateCoarse"):
            codes, summary_out = self.plugin.generate(
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
            model=self.plugin.info(),
            # What reached this level, so the trace shows a rule-break arriving.
            rule_breaks=ctx.rule_breaks,
            memory_frames=memory.frames if memory is not None else 0,
            memory_of_section=memory.of_section if memory is not None else -1,
        )


def add_to_server(plugin, server: grpc.Server) -> None:
    levels_pb2_grpc.add_AcousticLevelServicer_to_server(AcousticServicer(plugin), server)
