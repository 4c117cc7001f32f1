"""Plan in, plan out, on real processes: the semantic level refuses a plan it
cannot honour naming the field; `hiermusic plan` writes a plan file, a
person edits it, and `generate --plan` renders the edited form and records
it as edited."""
from __future__ import annotations

import json

import grpc
import pytest
import soundfile as sf

from hiermusic.v1 import composer_pb2, composer_pb2_grpc, levels_pb2, levels_pb2_grpc
from tests.integration.mesh_helpers import run_cli

S = levels_pb2.Section
FORM = ("type", "bars", "energy", "description", "drums", "modal_interchange", "displacement")


@pytest.fixture(scope="module")
def semantic(mesh):
    levels, _ = mesh
    with grpc.insecure_channel(levels.processes["semantic"].address) as channel:
        yield levels_pb2_grpc.SemanticLevelStub(channel)


@pytest.mark.parametrize(("plan", "message"), [
    (levels_pb2.PiecePlan(duration_s=12, sections=[S(type="verse"), S(type="drop")]),
     'plan.sections[1].type: unknown section type "drop"; known: intro, verse'),
    (levels_pb2.PiecePlan(duration_s=12, sections=[S(type="verse", bars=0)]),
     "plan.sections[0].bars: must be at least 1"),
    (levels_pb2.PiecePlan(duration_s=12, tempo_bpm=400), "plan.tempo_bpm: 400 is outside 30..300 bpm"),
    (levels_pb2.PiecePlan(duration_s=12, sections=[S(type="verse", energy=2)]),
     "plan.sections[0].energy: must be in 0..1"),
    # What only the planner can tell.
    (levels_pb2.PiecePlan(duration_s=12, abrupt_ending=True, sections=[S(type="verse"), S(type="outro")]),
     "abrupt ending"),
])
def test_the_semantic_level_refuses_a_bad_plan_naming_the_field(semantic, plan, message):
    with pytest.raises(grpc.RpcError) as info:
        semantic.Plan(levels_pb2.PlanRequest(prompt="a folk song", plan=plan), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details(), info.value.details()


def test_a_partial_plan_comes_back_whole_with_what_it_stated(semantic):
    asked = levels_pb2.PiecePlan(prompt="a folk song", duration_s=10, tempo_bpm=120, extended_intro=True, sections=[
        S(type="intro", description="quiet guitar"), S(type="verse", bars=2, energy=0.75, modal_interchange=True)])
    plan = semantic.Plan(levels_pb2.PlanRequest(plan=asked), timeout=60)
    assert (plan.prompt, plan.duration_s, plan.tempo_bpm, plan.extended_intro) == ("a folk song", 10, 120, True)
    assert [s.type for s in plan.sections] == ["intro", "verse"]
    intro, verse = plan.sections
    assert intro.bars >= 3 and intro.description == "quiet guitar"  # 3 bars at least: 1.5 x the verse's 2
    assert (verse.bars, verse.energy, verse.modal_interchange) == (2, 0.75, True)


def test_the_composer_takes_its_length_and_prompt_from_the_plan(mesh):
    _, composer = mesh
    plan = levels_pb2.PiecePlan(prompt="a calm piano piece", tempo_bpm=120, sections=[S(type="verse", bars=2)])
    with grpc.insecure_channel(composer.address) as channel:
        stub = composer_pb2_grpc.ComposerStub(channel)
        events = list(stub.Compose(composer_pb2.ComposeRequest(plan=plan, seed=1), timeout=120))
        with pytest.raises(grpc.RpcError) as info:
            list(stub.Compose(composer_pb2.ComposeRequest(prompt="jazz", plan=levels_pb2.PiecePlan(
                sections=[S(type="verse", bars=2)])), timeout=60))
    form = events[0].plan
    assert form.prompt == "a calm piano piece" and form.duration_s == 4.0  # 2 bars at 120 bpm
    assert sum(e.audio.pcm.shape[0] for e in events if e.HasField("audio")) == 4 * 24000
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("duration_s: missing; the plan states no duration_s, nor a tempo_bpm")


def test_plan_edit_then_generate_renders_the_edited_form(mesh, tmp_path):
    _, composer = mesh
    planned = tmp_path / "pop.plan.json"
    result = run_cli(["plan", "an upbeat pop song: verse, chorus, verse, chorus", "--duration", 12, "--seed", 3,
                      "--device", "cpu", "--out", planned], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(planned.read_text())
    assert [s["type"] for s in record["sections"]] == ["verse", "chorus", "verse", "chorus"]
    assert record["seed"] == 3 and "audio" not in record
    assert result.stdout.splitlines()[1].split()[:2] == ["0", "verse"]  # the form, printed

    # The edit: drop the second verse, double the last chorus and let the sections set the length.
    del record["sections"][2]
    chorus = record["sections"][-1]
    chorus.update(bars=2 * chorus["bars"], description="loud full band", displacement=True)
    record["sections"][0]["modal_interchange"] = True
    del record["duration_s"]
    edited = tmp_path / "edited.plan.json"
    edited.write_text(json.dumps(record, indent=2))

    out = tmp_path / "edited.wav"
    result = run_cli(["generate", "--plan", edited, "--out", out, "--mesh", composer.address], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads(out.with_suffix(".plan.json").read_text())
    assert [[s[k] for k in FORM] for s in written["sections"]] == [[s[k] for k in FORM] for s in record["sections"]]
    for name in ("prompt", "tempo_bpm", "key", "mode", "drums", "extended_intro", "abrupt_ending", "seed"):
        assert written[name] == record[name], name
    bars = sum(s["bars"] for s in record["sections"])
    assert written["duration_s"] == pytest.approx(bars * 240 / record["tempo_bpm"], abs=1e-3)
    audio, sr = sf.read(out)
    assert len(audio) / sr == pytest.approx(written["duration_s"], abs=0.03)

    # A plan the level cannot honour is the user's to fix: exit 2 with the level's words.
    record["abrupt_ending"] = True
    record["sections"].append({"type": "outro", "bars": 1})
    edited.write_text(json.dumps(record))
    result = run_cli(["generate", "--plan", edited, "--out", out, "--mesh", composer.address], timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "INVALID_ARGUMENT" in result.stderr and "abrupt ending" in result.stderr
    assert "Traceback" not in result.stderr
