"""`hiermusic plan`, and `generate --plan` refusing a plan before it starts
anything: against a semantic service in this process (a whole plan, edit and
render: tests/integration/test_plan_in_plan_out.py)."""
from __future__ import annotations

import json

import pytest

from hiermusic.cli.main import main
from hiermusic.cli.plan_command import PlanCommandError, form_text, make_plan, plan_request
from hiermusic.orchestrator.plan_file import read_plan_file
from hiermusic.orchestrator.song import chunk_seed
from hiermusic.v1 import levels_pb2
from tests.integration.mesh_helpers import free_port
from tests.services.semantic.bundled_semantic import STATED, BundledSemantic


@pytest.fixture(scope="module")
def semantic():
    service = BundledSemantic()
    yield service
    service.stop()


def test_plan_asks_what_generate_would(semantic):
    asked = levels_pb2.PiecePlan(prompt="folk", duration_s=16, sections=[levels_pb2.Section(type="verse")])
    request = plan_request("", 0.0, 7, asked)
    assert request.sampling.seed == chunk_seed(7, 0, 0) and request.plan == asked
    form = make_plan(request, semantic.address, None, semantic.address, 60)
    assert [s.type for s in form.sections] == ["verse"]
    assert not form.HasField("semantic_tokens")  # the form alone: the tokens are the audio's


def test_the_form_as_printed(semantic):
    form = make_plan(plan_request("", 0.0, 0, STATED), semantic.address, None, semantic.address, 60)
    assert form_text(form).splitlines() == [
        "16.0 s, 120 bpm, D minor, drums wanted, extended intro",
        '  0 intro        4 bars  energy 0.25     0.0-   8.0 s  drums unwanted; "quiet piano, no drums"',
        "  1 chorus       2 bars  energy 0.75     8.0-  12.0 s  drums wanted; modal interchange",
        "  2 chorus       2 bars  energy 1.00    12.0-  16.0 s  returns to 1; displacement",
    ]


def test_a_refusal_and_an_absent_level_are_told_apart(semantic):
    no_intro = levels_pb2.PiecePlan(prompt="folk", duration_s=12, extended_intro=True,
                                    sections=[levels_pb2.Section(type="verse")])
    refused = r"^the semantic level refused the plan: INVALID_ARGUMENT: an extended intro was asked"
    with pytest.raises(PlanCommandError, match=refused) as info:
        make_plan(plan_request("", 0.0, 0, no_intro), semantic.address, None, semantic.address, 60)
    assert info.value.refused
    absent = f"127.0.0.1:{free_port()}"
    with pytest.raises(PlanCommandError, match=f"^semantic level at {absent}: UNAVAILABLE") as info:
        make_plan(plan_request("folk", 16, 0, None), absent, None, absent, 5)
    assert not info.value.refused


def test_plan_writes_the_plan_file_and_prints_the_form(semantic, tmp_path, capsys):
    partial = tmp_path / "partial.plan.json"
    partial.write_text('{"prompt": "folk", "seed": 4, "sections": [{"type": "intro", "bars": 2, '
                       '"description": "quiet piano, no drums"}, {"type": "chorus"}], "duration_s": 16}')
    out = tmp_path / "out" / "p.plan.json"
    assert main(["plan", "--plan", str(partial), "--out", str(out), "--semantic", semantic.address]) == 0
    assert "  0 intro        2 bars" in capsys.readouterr().out
    plan, extras = read_plan_file(out)
    assert extras == {"seed": 4}  # the partial plan's; no render fields
    assert plan.prompt == "folk" and plan.duration_s == 16 and [s.type for s in plan.sections] == ["intro", "chorus"]
    record = json.loads(out.read_text())
    assert "audio" not in record and record["sections"][0]["description"] == "quiet piano, no drums"


def test_plan_exits_2_with_the_level_s_refusal(semantic, tmp_path, capsys):
    args = ["plan", "folk [verse] [drop]", "--duration", "12", "--out", str(tmp_path / "p.plan.json"),
            "--semantic", semantic.address]
    assert main(args) == 2
    assert "INVALID_ARGUMENT: unknown section type in tag [drop]" in capsys.readouterr().err
    assert not (tmp_path / "p.plan.json").exists()


@pytest.mark.parametrize("command", ["plan", "generate"])
@pytest.mark.parametrize(("plan", "message"), [
    ('{"sections": [{"type": "verse", "bar": 8}]}', "sections[0].bar: unknown field; known: type, bars"),
    ('{"sections": [{"type": "drop", "bars": 8}], "duration_s": 20}',
     'plan.sections[0].type: unknown section type "drop"'),
    ('{"duration_s": 20, "tempo_bpm": 400}', "plan.tempo_bpm: 400 is outside 30..300 bpm"),
    ('{"duration_s": 20}', "prompt (and plan.prompt) is empty"),
    ('{"duration_s": 20,\n "sections": [}', "not JSON: Expecting value at line 2 column 15"),
])
def test_a_bad_plan_exits_2_before_anything_starts(tmp_path, capsys, command, plan, message):
    path = tmp_path / "bad.plan.json"
    path.write_text(plan)
    out = tmp_path / ("x.wav" if command == "generate" else "x.plan.json")
    assert main([command, "--plan", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "starting" not in err and "Traceback" not in err


def test_generate_needs_a_duration_before_the_mesh_starts(tmp_path, capsys):
    path = tmp_path / "p.plan.json"
    path.write_text('{"prompt": "folk", "sections": [{"type": "verse", "bars": 8}]}')  # bars, but no tempo
    assert main(["generate", "--plan", str(path), "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert "duration_s: missing; the plan states no duration_s, nor a tempo_bpm" in err and "starting" not in err
    assert main(["generate", "--plan", str(path), "--duration", "-2", "--out", str(tmp_path / "x.wav")]) == 2
    assert "--duration -2.0: expected 1 to 600" in capsys.readouterr().err
