"""The semantic service, with the bundled planner, given a plan in the
request: it checks the plan before the model sees it (INVALID_ARGUMENT naming
the field), keeps what the plan states and sends back every field of the plan
it made, so the plan can be edited and sent up again."""
from __future__ import annotations

import grpc
import pytest
import torch

from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.semantic.plugin import MiniLMPlanner
from hiermusic.services.semantic.service import add_to_server
from hiermusic.v1 import levels_pb2, levels_pb2_grpc
from tests.services.in_process import level_stub

S = levels_pb2.Section


@pytest.fixture(scope="module")
def stub():
    plugin = MiniLMPlanner(bundled_checkpoint("semantic"), torch.device("cpu"))
    with level_stub(add_to_server, plugin, levels_pb2_grpc.SemanticLevelStub) as stub:
        yield stub


def _plan_both_ways(stub, request) -> list[levels_pb2.PiecePlan]:
    plan = stub.Plan(request, timeout=60)
    form = next(iter(stub.PlanStream(request, timeout=60))).form
    return [plan, form]


def test_what_the_plan_states_is_kept_and_every_field_comes_back(stub):
    asked = levels_pb2.PiecePlan(prompt="a folk song", duration_s=16, tempo_bpm=120, sections=[
        S(type="intro", bars=2, description="quiet piano, no drums", drums=levels_pb2.DRUMS_UNWANTED),
        S(type="chorus", energy=0.75, modal_interchange=True),
        S(type="chorus", bars=2, displacement=True)])
    request = levels_pb2.PlanRequest(plan=asked)  # no prompt, no duration: the plan's
    for plan in _plan_both_ways(stub, request):
        assert (plan.prompt, plan.duration_s, plan.tempo_bpm) == ("a folk song", 16, 120)
        assert [s.type for s in plan.sections] == ["intro", "chorus", "chorus"]
        assert [s.bars for s in plan.sections] == [2, 4, 2]  # the free chorus fills 16 s at 2 s a bar
        assert plan.sections[1].energy == pytest.approx(0.75) and [s.repeat_of for s in plan.sections] == [0, 1, 1]
        assert [s.description for s in plan.sections] == ["quiet piano, no drums", "", ""]
        assert [s.drums for s in plan.sections][0] == levels_pb2.DRUMS_UNWANTED
        assert [(s.modal_interchange, s.displacement) for s in plan.sections] == [
            (False, False), (True, False), (False, True)]
        assert all(s.HasField("bars") and s.HasField("energy") and not s.HasField("seconds") for s in plan.sections)


def test_the_request_s_prompt_wins_over_the_plan_s(stub):
    plan = stub.Plan(levels_pb2.PlanRequest(prompt="jazz", plan=levels_pb2.PiecePlan(prompt="folk", duration_s=8)),
                     timeout=60)
    assert plan.prompt == "jazz" and plan.duration_s == 8


@pytest.mark.parametrize(("request_", "message"), [
    (levels_pb2.PlanRequest(prompt="jazz", plan=levels_pb2.PiecePlan(
        duration_s=20, sections=[S(type="verse"), S(type="verse"), S(type="drop")])),
     'plan.sections[2].type: unknown section type "drop"'),
    (levels_pb2.PlanRequest(prompt="jazz", plan=levels_pb2.PiecePlan(duration_s=20, tempo_bpm=400)),
     "plan.tempo_bpm: 400 is outside 30..300 bpm"),
    (levels_pb2.PlanRequest(plan=levels_pb2.PiecePlan(duration_s=20)), "prompt (and plan.prompt) is empty"),
    (levels_pb2.PlanRequest(prompt="jazz", plan=levels_pb2.PiecePlan(sections=[S(type="verse")])),
     "duration_s: missing"),
    (levels_pb2.PlanRequest(prompt="jazz", plan=levels_pb2.PiecePlan(duration_s=10, sections=[S(type="verse", bars=0)])),
     "plan.sections[0].bars: must be at least 1"),
])
def test_a_bad_plan_is_invalid_argument_naming_the_field(stub, request_, message):
    for call in (stub.Plan, lambda r, timeout: list(stub.PlanStream(r, timeout=timeout))):
        with pytest.raises(grpc.RpcError) as info:
            call(request_, timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details().startswith(message), info.value.details()


def test_what_the_planner_cannot_honour_is_invalid_argument(stub):
    with pytest.raises(grpc.RpcError) as info:
        stub.Plan(levels_pb2.PlanRequest(prompt="jazz", plan=levels_pb2.PiecePlan(
            duration_s=10, extended_intro=True, sections=[S(type="verse")])), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "extended intro" in info.value.details() and "verse" in info.value.details()
