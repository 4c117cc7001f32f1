from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
import structlog

from hiermusic.orchestrator import song as song_module
from hiermusic.orchestrator.config import SchedulerConfig
from hiermusic.orchestrator.song import Song, SongError, chunk_seed, plan_times, song_chunks
from hiermusic.services.common.chunk_layout import chunk_context
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.tensors import decode, encode
from hiermusic.v1 import composer_pb2, contract_pb2, levels_pb2, tensor_pb2

F32 = tensor_pb2.DTYPE_FLOAT32


def test_plan_times_reads_the_beat_grid_and_refuses_a_broken_one():
    plan = levels_pb2.PiecePlan(beats=encode(np.array([0.0, 0.5, 1.0], np.float32)))
    assert plan_times(plan, "beats").tolist() == [0.0, 0.5, 1.0]
    assert plan_times(plan, "downbeats").size == 0  # a semantic level that plans no grid: no beats sent
    for bad in ([0.0, 0.5, 0.5], [1.0]):
        with pytest.raises(SongError, match="increasing"):
            plan_times(levels_pb2.PiecePlan(beats=encode(np.array(bad, np.float32))), "beats")
    with pytest.raises(SongError, match="bad downbeats"):
        plan_times(levels_pb2.PiecePlan(downbeats=encode(np.array([0, 1], np.int64))), "downbeats")


# A song made against fake level clients: each `.remote` call answers at
# once and is recorded, so the order of the requests and what they carry can
# be read back. Ray is left out (fetch passes the answer through).

SPACE = TokenSpaceConfig()
FINE = SPACE.codebooks - SPACE.coarse_codebooks


class _Method:
    def __init__(self, answer) -> None:
        self.answer = answer

    def options(self, **_: object) -> "_Method":
        return self

    def remote(self, method: str, request: bytes, request_id: str, *rest):
        return self.answer(method, request, *rest)


class FakeLevels:
    def __init__(self, duration_s: float) -> None:
        self.calls: list[tuple[str, int, object]] = []  # (method, chunk index, request)
        self.duration_s = duration_s

    def clients(self) -> dict:
        return {
            "semantic": SimpleNamespace(stream=_Method(self._plan)),
            "acoustic": SimpleNamespace(call=_Method(self._coarse)),
            "temporal": SimpleNamespace(call=_Method(self._render)),
        }

    def _plan(self, method, request, deadline_s, song_deadline):
        self.calls.append((method, 0, levels_pb2.PlanRequest.FromString(request)))
        frames = math.ceil(self.duration_s * SPACE.semantic_rate)
        sections = (np.arange(frames) * 2 // frames).astype(np.int64)
        form = levels_pb2.PiecePlan(
            sections=[levels_pb2.Section(type="verse", energy=0.4), levels_pb2.Section(type="chorus", energy=0.8)],
            frame_sections=encode(sections),
            section_embeddings=encode(np.ones((2, SPACE.embedding_dim), np.float32)),
            text_embedding=encode(np.ones(SPACE.embedding_dim, np.float32)),
        )
        tokens = np.arange(frames, dtype=np.int64) % SPACE.semantic_vocab_size
        parts = [levels_pb2.PlanPart(form=form)]
        parts += [levels_pb2.PlanPart(semantic_tokens=encode(tokens[i : i + 25])) for i in range(0, frames, 25)]
        return [(part.SerializeToString(), 0.5) for part in parts]

    def _coarse(self, method, request, chunk, song_deadline):
        req = levels_pb2.CoarseRequest.FromString(request)
        self.calls.append((method, chunk, req))
        return levels_pb2.CoarseResponse(
            coarse_tokens=encode(np.full((SPACE.coarse_codebooks, req.context.num_frames), chunk, np.int64)),
            summary=encode(np.full((SPACE.summary_tokens, SPACE.summary_dim), chunk, np.float32)),
        ).SerializeToString(), 0.2

    def _render(self, method, request, chunk, song_deadline):
        req = levels_pb2.RenderRequest.FromString(request)
        self.calls.append((method, chunk, req))
        frames = req.context.num_frames
        return levels_pb2.RenderResponse(
            fine_tokens=encode(np.full((FINE, frames), chunk, np.int64)),
            audio=encode(np.full(frames * SPACE.hop_length, 0.1, np.float32)),
            summary=encode(np.full((SPACE.summary_tokens, SPACE.summary_dim), chunk, np.float32)),
        ).SerializeToString(), 0.3


@pytest.fixture
def made(monkeypatch):
    """(events, recorded calls, contexts built) of a 9 s song of three chunks."""
    monkeypatch.setattr(song_module, "fetch", lambda reply: reply)
    built = []

    def counted_context(*args):
        built.append(args[1].index)
        return chunk_context(*args)

    monkeypatch.setattr(song_module, "chunk_context", counted_context)
    levels, config = FakeLevels(9.0), SchedulerConfig()
    infos = {level: contract_pb2.ModelInfo(level=level, token_space=SPACE.to_proto(), max_chunk_frames=1000)
             for level in ("semantic", "acoustic", "temporal")}
    request = composer_pb2.ComposeRequest(prompt="a folk song", duration_s=9.0, seed=5)
    song = Song(request=request, request_id="r1", clients=levels.clients(), config=config, infos=infos,
                chunks=song_chunks(request, config, infos), log=structlog.get_logger(), started=time.perf_counter())
    return list(song.events()), levels.calls, built


def test_the_song_streams_its_plan_then_each_chunk_then_the_summary(made):
    events, _, _ = made
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds == ["plan", "audio", "audio", "audio", "summary"]
    pcm = np.concatenate([decode(e.audio.pcm, "pcm", F32, [None]) for e in events if e.HasField("audio")])
    assert len(pcm) == 9 * SPACE.sample_rate
    summary = events[-1].summary
    assert [(t.chunk_index, t.level) for t in summary.trace] == [
        (n, level) for n in range(3) for level in ("acoustic", "temporal")]
    assert {t.level: t.calls for t in summary.timings} == {"acoustic": 3, "temporal": 3, "semantic": 1}


def test_acoustic_runs_a_chunk_ahead_of_temporal(made):
    _, calls, _ = made
    assert [(method, chunk) for method, chunk, _ in calls] == [
        ("PlanStream", 0),
        ("GenerateCoarse", 0), ("GenerateCoarse", 1), ("Render", 0),
        ("GenerateCoarse", 2), ("Render", 1), ("Render", 2),
    ]


def test_each_chunk_context_is_built_once_and_both_levels_get_it(made):
    _, calls, built = made
    assert built == [0, 1, 2]
    coarse = {chunk: req for method, chunk, req in calls if method == "GenerateCoarse"}
    render = {chunk: req for method, chunk, req in calls if method == "Render"}
    for n in range(3):
        assert coarse[n].context == render[n].context and coarse[n].context.chunk_index == n


def test_each_request_carries_its_seed_and_what_the_chunk_before_left(made):
    _, calls, _ = made
    seeds = [(method, chunk, req.sampling.seed) for method, chunk, req in calls]
    assert seeds == [(method, chunk, chunk_seed(5, chunk, {"PlanStream": 0, "GenerateCoarse": 1, "Render": 2}[method]))
                     for method, chunk, _ in seeds]
    for method, chunk, req in calls[1:]:
        assert req.HasField("summary") == (chunk > 0) and req.HasField("prefix_tokens") == (chunk > 0)
        if chunk:
            rows = SPACE.coarse_codebooks if method == "GenerateCoarse" else FINE
            prefix = decode(req.prefix_tokens, "prefix", tensor_pb2.DTYPE_INT64, [rows, 50])
            assert (prefix == chunk - 1).all()  # the overlap: 1 s of the chunk before
            summary = decode(req.summary, "summary", F32, [SPACE.summary_tokens, SPACE.summary_dim])
            assert (summary == chunk - 1).all()
