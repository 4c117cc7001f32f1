"""The semantic level's gRPC service: prompt (and a plan, whole or partial)
-> plan of the whole piece."""
from __future__ import annotations

from collections.abc import Iterator

import grpc

from hiermusic.v1 import contract_pb2, levels_pb2, levels_pb2_grpc
from hiermusic.services.common.metrics import LEVEL_CHUNKS
from hiermusic.services.common.model_control import add_model_control
from hiermusic.services.common.model_slot import ModelSlot, slot_of
from hiermusic.services.common.sampling_check import check_sampling
from hiermusic.services.common.server import invalid_argument
from hiermusic.services.common.tensors import encode
from hiermusic.services.semantic.plan_request import AskedPlan, asked_piece, drums_value

SERVICE_NAME = levels_pb2.DESCRIPTOR.services_by_name["SemanticLevel"].full_name


class SemanticServicer(levels_pb2_grpc.SemanticLevelServicer):
    def __init__(self, slot: ModelSlot) -> None:  # serving a registered hiermusic.semantic class
        self.slot = slot

    def Describe(self, request: contract_pb2.DescribeRequest, context: grpc.ServicerContext) -> contract_pb2.ModelInfo:
        return self.slot.info

    def Plan(self, request: levels_pb2.PlanRequest, context: grpc.ServicerContext) -> levels_pb2.PiecePlan:
        with invalid_argument(context):
            prompt, asked = _validate(request)
        plugin = self.slot.plugin  # this call's model, whatever a reload swaps in meanwhile
        with self.slot.gate.hold(context, "Plan"), invalid_argument(context):
            plan = plugin.plan(
                prompt,
                request.duration_s,
                request.sampling.seed,
                request.sampling.temperature,
                request.sampling.top_k,
                asked=asked,
            )
        LEVEL_CHUNKS.labels("semantic").inc()
        return self._piece_plan(plan, plugin.info())

    def PlanStream(self, request: levels_pb2.PlanRequest, context: grpc.ServicerContext) -> Iterator[levels_pb2.PlanPart]:
        """The form, then the tokens block by block as the plugin samples them
        (a plugin without `plan_parts` sends its whole plan in one part). The
        model is held until the last block: one model call at a time."""
        with invalid_argument(context):
            prompt, asked = _validate(request)
        args = (prompt, request.duration_s, request.sampling.seed, request.sampling.temperature,
                request.sampling.top_k)
        plugin = self.slot.plugin  # this call's model, whatever a reload swaps in meanwhile
        with self.slot.gate.hold(context, "PlanStream"), invalid_argument(context):
            if hasattr(plugin, "plan_parts"):
                form, blocks = plugin.plan_parts(*args, asked=asked)
            else:
                form = plugin.plan(*args, asked=asked)
                blocks = iter([form.semantic_tokens])
            yield levels_pb2.PlanPart(form=self._piece_plan(form, plugin.info(), with_tokens=False))
            for block in blocks:
                yield levels_pb2.PlanPart(semantic_tokens=encode(block))
        LEVEL_CHUNKS.labels("semantic").inc()

    def _piece_plan(self, plan, model: contract_pb2.ModelInfo, with_tokens: bool = True) -> levels_pb2.PiecePlan:
        """The wire form of a plugin's plan (a PlanResult-like object) made by
        `model`: all of it, so that it can be edited and sent up again."""
        message = levels_pb2.PiecePlan(
            sections=[
                levels_pb2.Section(
                    type=s.type, start_s=s.start_s, end_s=s.end_s, bars=s.bars, energy=s.energy,
                    repeat_of=s.repeat_of, description=s.description, drums=drums_value(s.drums),
                    modal_interchange=s.modal_interchange, displacement=s.displacement,
                )
                for s in plan.sections
            ],
            tempo_bpm=plan.tempo_bpm,
            key=plan.key,
            mode=plan.mode,
            text_embedding=encode(plan.text_embedding),
            section_embeddings=encode(plan.section_embeddings),
            frame_sections=encode(plan.frame_sections),
            duration_s=plan.duration_s,
            model=model,
            beats=encode(plan.beats),
            downbeats=encode(plan.downbeats),
            drums=plan.drums,
            prompt=plan.prompt,
            extended_intro=plan.extended_intro,
            abrupt_ending=plan.abrupt_ending,
        )
        if with_tokens:
            message.semantic_tokens.CopyFrom(encode(plan.semantic_tokens))
        return message


def _validate(request: levels_pb2.PlanRequest) -> tuple[str, AskedPlan | None]:
    """The prompt to plan from (the plan's where the request's is empty) and
    the plan asked, checked. A boundary of its own: anyone may call a level
    service, not only the scheduler."""
    prompt, _, asked = asked_piece(request.prompt, request.duration_s,
                                   request.plan if request.HasField("plan") else None)
    check_sampling(request.sampling)
    return prompt, asked


def add_to_server(model, server: grpc.Server) -> None:
    """Serves `model` (a ModelSlot, or a plugin to hold in one) and its ModelControl."""
    slot = slot_of("semantic", model)
    levels_pb2_grpc.add_SemanticLevelServicer_to_server(SemanticServicer(slot), server)
    add_model_control(slot, server)
