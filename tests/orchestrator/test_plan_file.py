"""The plan file: what generate writes reads back to the plan it recorded
(and that plan writes the same file again); a file a person writes needs
only what they mean; anything the format lacks is refused by its JSON path."""
from __future__ import annotations

import io
import json
import re

import grpc
import numpy as np
import pytest

from hiermusic.orchestrator.plan_file import (
    DERIVED_SECTION_FIELDS,
    PLAN_FIELDS,
    RENDER_FIELDS,
    SECTION_FIELDS,
    PlanFileError,
    plan_record,
    read_plan_file,
    write_plan_file,
)
from hiermusic.orchestrator.song_writer import SongWriter
from hiermusic.services.common.tensors import encode
from hiermusic.v1 import composer_pb2, contract_pb2, levels_pb2, levels_pb2_grpc
from tests.services.semantic.bundled_semantic import STATED, BundledSemantic


@pytest.fixture(scope="module")
def served_plan() -> levels_pb2.PiecePlan:
    """A complete plan as the semantic service writes it."""
    service = BundledSemantic()
    try:
        with grpc.insecure_channel(service.address) as channel:
            return levels_pb2_grpc.SemanticLevelStub(channel).Plan(levels_pb2.PlanRequest(plan=STATED), timeout=60)
    finally:
        service.stop()


def _generated(tmp_path, plan: levels_pb2.PiecePlan) -> tuple[dict, SongWriter]:
    """What generate writes for `plan`, fed the events a song streams."""
    writer = SongWriter(tmp_path / "song.wav", plan.prompt, 5, plan.duration_s, progress=io.StringIO())
    writer.handle(composer_pb2.ComposeEvent(plan=plan))
    writer.handle(composer_pb2.ComposeEvent(audio=composer_pb2.AudioChunk(
        chunk_index=0, chunk_count=1, pcm=encode(np.zeros(24000 * 16, np.float32)), sample_rate=24000)))
    writer.handle(composer_pb2.ComposeEvent(summary=composer_pb2.ComposeSummary(
        wall_s=3.0, models=[contract_pb2.ModelInfo(level=level, trained=True) for level in ("semantic", "acoustic")],
        timings=[composer_pb2.LevelTiming(level="acoustic", total_s=1.0, calls=4)],
        trace=[composer_pb2.ChunkTrace(chunk_index=0, level="acoustic")], request_id="r1")))
    return writer.finish(), writer


def test_the_file_generate_writes_reads_back_to_its_plan(tmp_path, served_plan):
    record, writer = _generated(tmp_path, served_plan)
    assert json.loads(writer.plan_path.read_text()) == record
    assert set(record) == {*PLAN_FIELDS, *RENDER_FIELDS}
    assert record["duration_s"] == 16.0 and record["drums"] == "wanted" and record["extended_intro"] is True
    assert [(s["description"], s["drums"], s["modal_interchange"], s["displacement"]) for s in record["sections"]] == [
        ("quiet piano, no drums", "unwanted", False, False), ("", "wanted", True, False), ("", "unsaid", False, True)]

    plan, extras = read_plan_file(writer.plan_path)
    assert extras == {name: record[name] for name in RENDER_FIELDS} and extras["seed"] == 5
    again = plan_record(plan, extras)
    for name in PLAN_FIELDS[:-1]:
        assert again[name] == record[name], name
    for written, reread in zip(record["sections"], again["sections"], strict=True):
        for name in SECTION_FIELDS:
            assert written.get(name) == reread.get(name), name
    # The derived fields are the level's to work out again from bars, tempo and types.
    assert all(not s.start_s and not s.end_s and not s.repeat_of for s in plan.sections)
    write_plan_file(tmp_path / "again.plan.json", plan, extras)
    assert read_plan_file(tmp_path / "again.plan.json") == (plan, extras)


def test_a_minimal_plan_a_person_writes(tmp_path):
    path = tmp_path / "mine.plan.json"
    path.write_text('{"sections": [{"type": "verse", "bars": 8}, {"type": "chorus"}], "duration_s": 30}')
    plan, extras = read_plan_file(path)
    assert plan == levels_pb2.PiecePlan(
        sections=[levels_pb2.Section(type="verse", bars=8), levels_pb2.Section(type="chorus")], duration_s=30)
    assert not plan.sections[1].HasField("bars") and not plan.sections[1].HasField("energy") and extras == {}


def test_null_and_missing_fields_are_left_to_the_planner(tmp_path):
    path = tmp_path / "p.plan.json"
    path.write_text(json.dumps({"prompt": "jazz", "tempo_bpm": None, "key": None, "drums": "unwanted", "sections": [
        {"type": "intro", "seconds": 8, "energy": 0.2, "bars": None, "description": "soft", "drums": "wanted",
         "displacement": True, "start_s": 3, "end_s": 1, "repeat_of": 9}]}))
    plan, _ = read_plan_file(path)
    assert plan == levels_pb2.PiecePlan(prompt="jazz", drums=levels_pb2.DRUMS_UNWANTED, sections=[levels_pb2.Section(
        type="intro", seconds=8, energy=0.2, description="soft", drums=levels_pb2.DRUMS_WANTED, displacement=True)])
    assert plan_record(plan)["sections"][0]["seconds"] == 8


KNOWN_TOP = "known: " + ", ".join(PLAN_FIELDS)
KNOWN_SECTION = "known: " + ", ".join(SECTION_FIELDS)


@pytest.mark.parametrize(("text", "message"), [
    ('{"tempo": 120}', f"tempo: unknown field; {KNOWN_TOP} (and the render fields generate writes: seed, "),
    ('{"sections": [{"type": "verse"}, {"type": "verse"}, {"type": "chorus", "bar": 8}]}',
     f"sections[2].bar: unknown field; {KNOWN_SECTION} (and the derived {', '.join(DERIVED_SECTION_FIELDS)})"),
    ('{\n  "duration_s": 30,\n  "sections": [\n    {"type": "verse",}\n  ]\n}',
     "not JSON: Expecting property name enclosed in double quotes at line 4 column 22"),
    ("[]", "expected a JSON object of plan fields"),
    ('{"sections": {"type": "verse"}}', 'sections: expected a list of sections, got {"type": "verse"}'),
    ('{"sections": ["verse"]}', "sections[0]: expected a JSON object of section fields"),
    ('{"sections": [{"bars": 8}]}', "sections[0].type: missing"),
    ('{"sections": [{"type": 3}]}', "sections[0].type: expected a string, got 3"),
    ('{"sections": [{"type": "verse", "bars": "8"}]}', 'sections[0].bars: expected a whole number, got "8"'),
    ('{"sections": [{"type": "verse", "bars": 8.5}]}', "sections[0].bars: expected a whole number, got 8.5"),
    ('{"sections": [{"type": "verse", "bars": true}]}', "sections[0].bars: expected a whole number, got true"),
    ('{"sections": [{"type": "verse", "bars": 1e12}]}', "sections[0].bars: 1000000000000 is out of range"),
    ('{"sections": [{"type": "verse", "energy": "loud"}]}', 'sections[0].energy: expected a number, got "loud"'),
    ('{"sections": [{"type": "verse", "drums": true}]}', "sections[0].drums: expected"),
    ('{"sections": [{"type": "verse", "displacement": "yes"}]}', "sections[0].displacement: expected true or false"),
    ('{"drums": "some"}', 'drums: expected "wanted", "unwanted" or "unsaid", got "some"'),
    ('{"duration_s": "30"}', 'duration_s: expected a number, got "30"'),
    ('{"abrupt_ending": 1}', "abrupt_ending: expected true or false, got 1"),
    ('{"seed": -1}', "seed: expected a whole number from 0, got -1"),
    ('{"seed": 1.5}', "seed: expected a whole number from 0, got 1.5"),
])
def test_a_bad_file_is_refused_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.plan.json"
    path.write_text(text)
    with pytest.raises(PlanFileError, match=f"^{re.escape(f'{path}: {message}')}"):
        read_plan_file(path)


def test_a_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(PlanFileError, match=f"^{re.escape(str(tmp_path / 'none.plan.json'))}: No such file"):
        read_plan_file(tmp_path / "none.plan.json")


def test_the_writer_records_only_what_the_reader_knows():
    with pytest.raises(ValueError, match="not render fields of a plan file: tempo"):
        plan_record(levels_pb2.PiecePlan(), {"seed": 1, "tempo": 120})
