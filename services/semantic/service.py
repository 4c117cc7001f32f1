"""The semantic level's gRPC service: prompt -> plan of the whole piece."""
from __future__ import annotations

from collections.abc import Iterator

import grpc

from hiermusic.v1 import contract_pb2, levels_pb2, levels_pb2_grpc
from hiermusic.services.common.limits import check_piece
from hiermusic.services.common.metrics import LEVEL_CHUNKS
from hiermusic.services.common.server import ModelGate, invalid_argument
from hiermusic.services.common.tensors import encode

SERVICE_NAME = levels_pb2.DESCRIPTOR.services_by_name["SemanticLevel"].full_name


class SemanticServicer(levels_pb2_grpc.SemanticLevelServicer):
    def __init__(self, plugin) -> None:  # plugin: a registered hiermusic.semantic class
        self.plugin = plugin
        self.gate = ModelGate("semantic")

    def Describe(self, request: contract_pb2.DescribeRequest, context: grpc.ServicerContext) -> contract_pb2.ModelInfo:
        return self.plugin.info()

    def Plan(self, request: levels_pb2.PlanRequest, context: grpc.ServicerContext) -> levels_pb2.PiecePlan:
        with invalid_argument(context):
            _validate(request)
        with self.gate.hold(context, "Plan"), invalid_argument(context):
            plan = self.plugin.plan(
                request.prompt,
                request.duration_s,
                request.sampling.seed,
                request.sampling.temperature,
                request.sampling.top_k,
            )
        LEVEL_CHUNKS.labels("semantic").inc()
        return self._piece_plan(plan, request)

    def PlanStream(self, request: levels_pb2.PlanRequest, context: grpc.ServicerContext) -> Iterator[levels_pb2.PlanPart]:
        """The form, then the tokens block by block as the plugin samples them
        (a plugin without `plan_parts` sends its whole plan in one part). The
        model is held until the last block: one model call at a time."""
        with invalid_argument(context):
            _validate(request)
        args = (request.prompt, request.duration_s, request.sampling.seed, request.sampling.temperature,
                request.sampling.top_k)
        with self.gate.hold(context, "PlanStream"), invalid_argument(context):
            if hasattr(self.plugin, "plan_parts"):
                form, blocks = self.plugin.plan_parts(*args)
            else:
                form = self.plugin.plan(*args)
                blocks = iter([form.semantic_tokens])
            yield levels_pb2.PlanPart(form=self._piece_plan(form, request, with_tokens=False))
            for block in blocks:
                yield levels_pb2.PlanPart(semantic_tokens=encode(block))
        LEVEL_CHUNKS.labels("semantic").inc()

    def _piece_plan(self, plan, request: levels_pb2.PlanRequest, with_tokens: bool = True) -> levels_pb2.PiecePlan:
        """The wire form of a plugin's plan (a PlanResult-like object)."""
        message = levels_pb2.PiecePlan(
            sections=[
                levels_pb2.Section(
                    type=s.type, start_s=s.start_s, end_s=s.end_s, bars=s.bars, energy=s.energy, repeat_of=s.repeat_of
                )
                for s in plan.sections
            ],
            tempo_bpm=plan.tempo_bpm,
            key=plan.key,
            mode=plan.mode,
            text_embedding=encode(plan.text_embedding),
            section_embeddings=encode(plan.section_embeddings),
            frame_sections=encode(plan.frame_sections),
            duration_s=request.duration_s,
            model=self.plugin.info(),
            beats=encode(plan.beats),
            downbeats=encode(plan.downbeats),
            drums=plan.drums,
        )
        if with_tokens:
            message.semantic_tokens.CopyFrom(encode(plan.semantic_tokens))
        return message


def _validate(request: levels_pb2.PlanRequest) -> None:
    # A boundary of its own: anyone may call a level service, not only the scheduler.
    check_piece(request.prompt, request.duration_s)
    if request.sampling.temperature < 0 or request.sampling.top_k < 0:
        raise ValueError("sampling: temperature and top_k must be >= 0")


def add_to_server(plugin, server: grpc.Server) -> None:
    levels_pb2_grpc.add_SemanticLevelServicer_to_server(SemanticServicer(plugin), server)
