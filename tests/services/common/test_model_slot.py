"""Reloading a level in place (ModelControl.Reload) on the acoustic service
with the bundled weights, in this process: the switch lands between calls
and the next call reports the new version; a refused contract or a failed
load leaves the old model serving and says why."""
from __future__ import annotations

import threading

import grpc
import numpy as np
import pytest

from hiermusic.orchestrator.song import space_of
from hiermusic.services.acoustic.service import add_to_server
from hiermusic.services.common.bootstrap import LevelConfig, build_plugin, bundled_checkpoint
from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context
from hiermusic.services.common.model_slot import ModelSlot
from hiermusic.v1 import contract_pb2, contract_pb2_grpc, levels_pb2, levels_pb2_grpc
from tests.integration.mesh_helpers import wait_for
from tests.services.bundled_copy import bundled_copy
from tests.services.in_process import InProcessLevel


@pytest.fixture(scope="module")
def level():
    """The acoustic service with the bundled weights, its slot, and stubs of both its services."""
    config = LevelConfig("acoustic", device="cpu", sampling={"top_k": 40})
    slot = ModelSlot("acoustic", build_plugin(config), config)
    server = InProcessLevel(add_to_server, slot)
    channel = grpc.insecure_channel(server.address)
    try:
        yield slot, levels_pb2_grpc.AcousticLevelStub(channel), contract_pb2_grpc.ModelControlStub(channel)
    finally:
        channel.close()
        server.stop()


def _chunk(info: contract_pb2.ModelInfo, frames: int) -> levels_pb2.CoarseRequest:
    space, rng = space_of(info), np.random.default_rng(0)
    tokens = int(np.ceil(frames / space.frames_per_semantic)) + 30
    arrays = PlanArrays(
        semantic_tokens=rng.integers(0, space.semantic_vocab_size, tokens), frame_sections=np.zeros(tokens, np.int64),
        section_embeddings=rng.standard_normal((1, space.embedding_dim)).astype(np.float32),
        section_energy=np.array([0.5], np.float32), text_embedding=np.zeros(space.embedding_dim, np.float32),
    )
    return levels_pb2.CoarseRequest(context=chunk_context(arrays, Chunk(0, 0, frames, 0), space, 1.0),
                                    sampling=levels_pb2.Sampling(seed=5))


def _version(stub) -> str:
    return stub.Describe(contract_pb2.DescribeRequest(), timeout=30).model_version


def _refused(control, code: grpc.StatusCode, **request) -> str:
    with pytest.raises(grpc.RpcError) as err:
        control.Reload(contract_pb2.ReloadRequest(**request), timeout=120)
    assert err.value.code() == code, err.value.details()
    return err.value.details()


def test_a_reload_switches_between_calls(level, tmp_path):
    """A chunk in flight when the reload is asked for finishes on the old
    model; the reload waits for it, and the next chunk and Describe report
    the new version. Same weights under a new card: the same codes."""
    slot, stub, control = level
    old = _version(stub)
    request = _chunk(slot.info, 250)  # some seconds: in flight while the reload loads
    checkpoint = bundled_copy("acoustic", tmp_path / "v2.safetensors", "coarse-reload-v2")
    in_flight: dict[str, levels_pb2.CoarseResponse] = {}
    call = threading.Thread(target=lambda: in_flight.setdefault("r", stub.GenerateCoarse(request, timeout=300)))
    call.start()
    wait_for(lambda: slot.gate._lock.locked() or not call.is_alive(), 60, "the chunk holding the model")
    assert call.is_alive(), "the chunk ended before the reload was asked for"
    answer = control.Reload(contract_pb2.ReloadRequest(level="acoustic", checkpoint=str(checkpoint)), timeout=120)
    call.join(300)
    assert (answer.before.model_version, answer.after.model_version) == (old, "coarse-reload-v2")
    assert answer.after.checkpoint_digest == answer.before.checkpoint_digest  # the same weights
    assert in_flight["r"].model.model_version == old
    assert _version(stub) == "coarse-reload-v2"
    after = stub.GenerateCoarse(request, timeout=300)
    assert after.model.model_version == "coarse-reload-v2"
    assert after.coarse_tokens == in_flight["r"].coarse_tokens
    assert slot.plugin.sampling.top_k == 40  # the service's overrides hold for the new model


def test_a_mismatched_contract_is_refused_and_the_old_model_serves(level, tmp_path):
    slot, stub, control = level
    serving = _version(stub)
    codec = bundled_copy("acoustic", tmp_path / "codec.safetensors", "coarse-other-codec", codec_id="another-codec")
    details = _refused(control, grpc.StatusCode.FAILED_PRECONDITION, checkpoint=str(codec))
    assert "codec_id" in details and "another-codec" in details and f"still serving acoustic (coarse_transformer {serving})" in details
    summary = bundled_copy("acoustic", tmp_path / "summary.safetensors", "coarse-tokenizer", semantic_tokenizer_id="x")
    assert "semantic_tokenizer_id" in _refused(control, grpc.StatusCode.FAILED_PRECONDITION, checkpoint=str(summary))
    assert _version(stub) == serving
    assert stub.GenerateCoarse(_chunk(slot.info, 50), timeout=120).model.model_version == serving


def test_a_failed_load_keeps_the_old_model(level, tmp_path):
    """A missing file or plugin, another level's checkpoint, a bad card, a
    path the service cannot place, a request meant for another level."""
    slot, stub, control = level
    serving = _version(stub)
    assert "does not exist" in _refused(control, grpc.StatusCode.NOT_FOUND, checkpoint=str(tmp_path / "none.safetensors"))
    assert "unknown acoustic plugin" in _refused(control, grpc.StatusCode.NOT_FOUND, plugin="no_such_plugin",
                                                 checkpoint=str(bundled_checkpoint("acoustic")))
    temporal = _refused(control, grpc.StatusCode.INVALID_ARGUMENT, checkpoint=str(bundled_checkpoint("temporal")))
    assert "is for temporal plugin 'fine_transformer'" in temporal
    bad = bundled_copy("acoustic", tmp_path / "bad.safetensors", "coarse-bad")
    bad.with_suffix(".json").write_text("{not json")
    assert "JSONDecodeError" in _refused(control, grpc.StatusCode.INVALID_ARGUMENT, checkpoint=str(bad))
    assert "not an absolute path" in _refused(control, grpc.StatusCode.INVALID_ARGUMENT, checkpoint="w.safetensors")
    assert "this service is the acoustic level" in _refused(control, grpc.StatusCode.INVALID_ARGUMENT,
                                                            level="temporal", checkpoint=str(bad))
    assert _version(stub) == serving
    assert stub.GenerateCoarse(_chunk(slot.info, 50), timeout=120).model.model_version == serving
