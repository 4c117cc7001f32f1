from __future__ import annotations

import json

import pytest

from hiermusic.orchestrator.config import ActorResources, SchedulerConfig, SchedulerConfigError


def _file(tmp_path, data) -> str:
    path = tmp_path / "scheduler.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_file_overrides_the_defaults_it_names(tmp_path):
    config = SchedulerConfig.from_file(_file(tmp_path, {
        "chunk_s": 4.0,
        "scheduler": {"num_cpus": 1},
        "clients": {"temporal": {"num_gpus": 0.5, "resources": {"accelerator": 1}}},
    }))
    assert config.chunk_s == 4.0 and config.overlap_s == SchedulerConfig().overlap_s
    assert config.scheduler == ActorResources(num_cpus=1)
    assert config.clients["temporal"] == ActorResources(num_gpus=0.5, resources={"accelerator": 1})
    assert config.clients["acoustic"] == ActorResources()


@pytest.mark.parametrize(("data", "message"), [
    ({"chunk_sz": 4.0}, "chunk_sz: unknown field (SchedulerConfig has chunk_s, "),
    ({"scheduler": {"num_cpu": 1}}, "scheduler.num_cpu: unknown field (ActorResources has num_cpus, "),
    ({"clients": {"acustic": {}}}, "clients.acustic: unknown level; expected semantic, acoustic or temporal"),
    ({"clients": {"acoustic": {"num_gpu": 1}}}, "clients.acoustic.num_gpu: unknown field"),
    ({"clients": {"acoustic": 2}}, "clients.acoustic: expected a JSON object"),
    ({"scheduler": 2}, "scheduler: expected a JSON object"),
    ({"max_songs": 0}, "max_songs 0: expected a whole number from 1"),
    ({"max_queued_songs": -1}, "max_queued_songs -1: expected a whole number from 0"),
    ({"semantic_margin_s": 6.0}, "semantic_margin_s 6.0: expected 0 to 5 s"),
    ({"chunk_s": 0.04}, "chunk_s 0.04, overlap_s 1.0: expected a chunk of 0.5 to 30 s"),
    ({"overlap_s": 5.0}, "overlap_s 5.0: expected a chunk"),
    ([1, 2], "expected a JSON object of SchedulerConfig fields"),
    ("{", "Expecting property name"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_field(tmp_path, data, message):
    path = _file(tmp_path, data)
    with pytest.raises(SchedulerConfigError) as info:
        SchedulerConfig.from_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(SchedulerConfigError, match="No such file"):
        SchedulerConfig.from_file(tmp_path / "none.json")
