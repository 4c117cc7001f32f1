"""The scheduler: a Ray actor that turns one request into a stream of plan,
audio chunks and a summary. All per-song state lives here and travels in the
requests, so the level services stay stateless."""
from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import TextIO

import numpy as np
import ray
import structlog
from prometheus_client import start_http_server

from hiermusic.orchestrator.crossfade import Crossfader
from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context, layout, semantic_span
from hiermusic.orchestrator.config import SchedulerConfig
from hiermusic.orchestrator.level_client import LevelError, RemoteLevelClient
from hiermusic.orchestrator.metrics import FIRST_AUDIO, LEVEL_CALL_SECONDS, REAL_TIME_FACTOR, SONG_SECONDS, SONGS, SONGS_IN_FLIGHT
from hiermusic.orchestrator.plan_reader import PlanReader, PlanStreamError
from hiermusic.v1 import composer_pb2, contract_pb2, levels_pb2, tensor_pb2
from hiermusic.services.common.contract import ContractMismatch, TokenSpaceConfig, check_agreement, describe_model
from hiermusic.services.common.log import configure_logging
from hiermusic.services.common.tensors import TensorError, decode, encode

LEVELS = ("semantic", "acoustic", "temporal")
F32, I64 = tensor_pb2.DTYPE_FLOAT32, tensor_pb2.DTYPE_INT64
MAX_DURATION_S = 600.0


class SongError(RuntimeError):
    """A song that could not be made; the message says which level and why."""


def unwrap(err: BaseException) -> BaseException:
    """The exception a Ray task raised, without Ray's wrapper."""
    while isinstance(err, ray.exceptions.RayTaskError) and err.cause is not None:
        err = err.cause
    return err


def space_of(info: contract_pb2.ModelInfo) -> TokenSpaceConfig:
    ts = info.token_space
    return TokenSpaceConfig(**{f: getattr(ts, f) for f in TokenSpaceConfig.__dataclass_fields__})


def chunk_seed(seed: int, chunk: int, level: int) -> int:
    return (seed * 1_000_003 + chunk * 7 + level) % (2**63)


def plan_times(plan: levels_pb2.PiecePlan, field: str) -> np.ndarray:
    """The plan's beat or bar times (`field`); empty from a semantic level
    that plans no beat grid, and chunks then carry no beats."""
    if not plan.HasField(field):
        return np.zeros(0, np.float32)
    try:
        times = decode(getattr(plan, field), field, F32, [None])
    except TensorError as err:
        raise SongError(f"semantic level returned a bad {field}: {err}") from None
    if len(times) < 2 or not (np.diff(times) > 0).all():
        raise SongError(f"semantic level returned {field} that are not two or more increasing times")
    return times


def validate_request(request: composer_pb2.ComposeRequest) -> None:
    if not request.prompt.strip():
        raise ValueError("prompt is empty; describe the music to make")
    if not 0 < request.duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration {request.duration_s} s: expected more than 0 and at most {MAX_DURATION_S:.0f} s")
    if request.chunk_s < 0 or request.overlap_s < 0:
        raise ValueError("chunk and overlap lengths must be positive")


def _open_log(path: str) -> TextIO | None:
    """The actor runs in a Ray worker whose own stderr ends up in Ray's temp
    dir; on another node of a cluster the caller's path may not exist."""
    try:
        return open(path, "a", buffering=1) if path else None
    except OSError:
        return None


class Scheduler:
    def __init__(self, addresses: dict[str, str], config: SchedulerConfig, log_file: str = "") -> None:
        configure_logging("scheduler", file=_open_log(log_file))
        missing = [level for level in LEVELS if level not in addresses]
        if missing:
            raise ValueError(f"no address for level(s) {', '.join(missing)}")
        self.config = config
        self.addresses = dict(addresses)
        self.clients = {
            level: RemoteLevelClient.options(**config.clients[level].options()).remote(
                level, addresses[level], config.rpc_deadline_s, config.retries
            )
            for level in LEVELS
        }
        server, _ = start_http_server(config.metrics_port, addr=config.metrics_host)
        self._metrics_port = server.server_port
        self.log = structlog.get_logger()

    def metrics_port(self) -> int:
        return self._metrics_port

    def describe(self, request_id: str = "describe") -> dict[str, bytes]:
        """Each level's ModelInfo, after checking that adjacent levels agree."""
        infos = {
            level: contract_pb2.ModelInfo.FromString(b)
            for level, b in zip(LEVELS, self._get([self.clients[level].describe.remote(request_id) for level in LEVELS]))
        }
        try:
            check_agreement(infos)
        except ContractMismatch as err:
            raise SongError(str(err)) from None
        return {level: info.SerializeToString() for level, info in infos.items()}

    def compose(self, request_bytes: bytes) -> Iterator[bytes]:
        """Streams serialized ComposeEvents: the plan, each audio chunk, the summary."""
        request = composer_pb2.ComposeRequest.FromString(request_bytes)
        SONGS_IN_FLIGHT.inc()
        outcome = "error"
        try:
            for event in self._compose(request):
                yield event.SerializeToString()
            outcome = "ok"
        finally:
            SONGS_IN_FLIGHT.dec()
            SONGS.labels(outcome).inc()

    def _compose(self, request: composer_pb2.ComposeRequest) -> Iterator[composer_pb2.ComposeEvent]:
        validate_request(request)
        request_id = uuid.uuid4().hex[:12]
        log = self.log.bind(request_id=request_id)
        started = time.perf_counter()
        infos = {k: contract_pb2.ModelInfo.FromString(v) for k, v in self.describe(request_id).items()}
        space = space_of(infos["acoustic"])
        timings: dict[str, list[float]] = defaultdict(list)
        fr = space.frame_rate
        chunk_frames = int(round((request.chunk_s or self.config.chunk_s) * fr))
        overlap_frames = int(round((request.overlap_s or self.config.overlap_s) * fr))
        if not 0 <= overlap_frames < chunk_frames:
            raise SongError(f"overlap of {overlap_frames} frames must be shorter than the chunk ({chunk_frames})")
        first_frames = min(int(round(self.config.first_chunk_s * fr)) or chunk_frames, chunk_frames)
        if first_frames <= overlap_frames:
            raise SongError(f"the first chunk ({first_frames} frames) must be longer than the overlap "
                            f"({overlap_frames}); raise first_chunk_s or lower overlap_s")
        for level in ("acoustic", "temporal"):
            if chunk_frames > infos[level].max_chunk_frames:
                raise SongError(
                    f"chunks of {chunk_frames} frames are longer than {describe_model(infos[level])} "
                    f"takes ({infos[level].max_chunk_frames}); use a shorter chunk length"
                )

        plan_request = levels_pb2.PlanRequest(
            prompt=request.prompt,
            duration_s=request.duration_s,
            sampling=levels_pb2.Sampling(seed=chunk_seed(request.seed, 0, 0)),
        )
        # The plan streams in: the form now, the tokens as the chunks need them.
        # One deadline for the whole stream, a call's per minute of music: a
        # 600 s plan samples ten times the tokens of a 60 s one.
        parts = self.clients["semantic"].stream.options(num_returns="streaming").remote(
            "PlanStream", plan_request.SerializeToString(), request_id,
            self.config.rpc_deadline_s * math.ceil(request.duration_s / 60.0),
        )
        try:
            reader = PlanReader(self._get(ref) for ref in parts)
        except PlanStreamError as err:
            raise SongError(str(err)) from None
        plan = reader.form
        arrays = self._plan_arrays(plan, space, reader.total)
        log.info("planned", sections=len(plan.sections), tempo_bpm=plan.tempo_bpm)
        yield composer_pb2.ComposeEvent(plan=plan)

        def context(chunk: Chunk) -> levels_pb2.ChunkContext:
            _, hi = semantic_span(chunk, space, self.config.semantic_margin_s, reader.total)
            try:
                arrays.semantic_tokens = reader.until(hi)
            except PlanStreamError as err:
                raise SongError(str(err)) from None
            return chunk_context(arrays, chunk, space, self.config.semantic_margin_s)

        chunks = layout(int(round(request.duration_s * fr)), chunk_frames, overlap_frames, first_frames)
        crossfader = Crossfader(space.hop_length)
        trace: list[composer_pb2.ChunkTrace] = []
        first_audio = None

        def coarse(chunk: Chunk, summary: tensor_pb2.Tensor | None, prefix: np.ndarray | None) -> ray.ObjectRef:
            req = levels_pb2.CoarseRequest(
                context=context(chunk),
                sampling=levels_pb2.Sampling(seed=chunk_seed(request.seed, chunk.index, 1)),
            )
            if summary is not None:
                req.summary.CopyFrom(summary)
            if prefix is not None and prefix.size:
                req.prefix_tokens.CopyFrom(encode(prefix))
            return self.clients["acoustic"].call.remote(
                "GenerateCoarse", req.SerializeToString(), request_id, chunk.index
            )

        # acoustic(n+1) needs only acoustic(n), so it runs while temporal(n) renders.
        pending = coarse(chunks[0], None, None)
        fine_summary, fine_prev = None, None
        for i, chunk in enumerate(chunks):
            nxt = chunks[i + 1] if i + 1 < len(chunks) else None
            coarse_resp = levels_pb2.CoarseResponse.FromString(
                self._collect("acoustic", "GenerateCoarse", pending, timings)
            )
            codes = self._check(
                "acoustic", coarse_resp.coarse_tokens, "coarse_tokens", I64, [space.coarse_codebooks, chunk.frames]
            )
            if nxt is not None:
                pending = coarse(nxt, coarse_resp.summary, codes[:, nxt.start - chunk.start :])
            render_req = levels_pb2.RenderRequest(
                context=context(chunk),
                coarse_tokens=coarse_resp.coarse_tokens,
                sampling=levels_pb2.Sampling(seed=chunk_seed(request.seed, chunk.index, 2)),
            )
            if fine_summary is not None:
                render_req.summary.CopyFrom(fine_summary)
            if chunk.overlap:
                render_req.prefix_tokens.CopyFrom(encode(fine_prev[:, -chunk.overlap :]))
            render = levels_pb2.RenderResponse.FromString(
                self._call("temporal", "Render", render_req, request_id, chunk.index, timings)
            )
            audio = self._check("temporal", render.audio, "audio", F32, [chunk.frames * space.hop_length])
            fine_prev = self._check(
                "temporal", render.fine_tokens, "fine_tokens", I64, [space.codebooks - space.coarse_codebooks, chunk.frames]
            )
            fine_summary = render.summary
            for level, resp in (("acoustic", coarse_resp), ("temporal", render)):
                trace.append(
                    composer_pb2.ChunkTrace(
                        chunk_index=chunk.index,
                        level=level,
                        summary_in_sha256=resp.summary_in_sha256,
                        summary_out_sha256=resp.summary_out_sha256,
                        seconds=timings[level][-1],
                        model_version=resp.model.model_version,
                    )
                )
            pcm = crossfader.add(chunk, audio, nxt)
            if first_audio is None:
                first_audio = time.perf_counter() - started
                FIRST_AUDIO.observe(first_audio)
            log.info("chunk", chunk_index=chunk.index, chunks=len(chunks))
            yield composer_pb2.ComposeEvent(
                audio=composer_pb2.AudioChunk(
                    chunk_index=chunk.index,
                    chunk_count=len(chunks),
                    start_s=chunk.start / fr,  # the crossfaded overlap opens each chunk's samples
                    pcm=encode(pcm),
                    sample_rate=space.sample_rate,
                    overlap_s=chunk.overlap / fr,
                )
            )

        try:
            reader.finish()
        except PlanStreamError as err:
            raise SongError(str(err)) from None
        timings["semantic"].append(reader.seconds)
        LEVEL_CALL_SECONDS.labels("semantic", "PlanStream").observe(reader.seconds)
        wall = time.perf_counter() - started
        SONG_SECONDS.observe(wall)
        REAL_TIME_FACTOR.observe(wall / request.duration_s)
        log.info("composed", wall_s=round(wall, 3), chunks=len(chunks))
        yield composer_pb2.ComposeEvent(
            summary=composer_pb2.ComposeSummary(
                wall_s=wall,
                first_audio_s=first_audio or wall,
                real_time_factor=wall / request.duration_s,
                timings=[composer_pb2.LevelTiming(level=k, total_s=sum(v), calls=len(v)) for k, v in timings.items()],
                models=[infos[level] for level in LEVELS],
                trace=trace,
                request_id=request_id,
            )
        )

    def _plan_arrays(self, plan: levels_pb2.PiecePlan, space: TokenSpaceConfig, frames: int) -> PlanArrays:
        """The form's arrays, checked; the tokens come later (PlanReader)."""
        sections = self._check("semantic", plan.section_embeddings, "section_embeddings", F32, [len(plan.sections), space.embedding_dim])
        return PlanArrays(
            semantic_tokens=np.zeros(0, np.int64),
            frame_sections=self._check("semantic", plan.frame_sections, "frame_sections", I64, [frames]),
            section_embeddings=sections,
            section_energy=np.array([s.energy for s in plan.sections], dtype=np.float32),
            text_embedding=self._check("semantic", plan.text_embedding, "text_embedding", F32, [space.embedding_dim]),
            beats=plan_times(plan, "beats"),
            downbeats=plan_times(plan, "downbeats"),
            drums=plan.drums,
        )

    @staticmethod
    def _check(level: str, tensor: tensor_pb2.Tensor, field: str, dtype: int, shape: list) -> np.ndarray:
        try:
            return decode(tensor, field, dtype, shape)
        except TensorError as err:
            raise SongError(f"{level} level returned a bad {field}: {err}") from None

    def _call(
        self, level: str, method: str, message, request_id: str, chunk: int | None, timings: dict
    ) -> bytes:
        ref = self.clients[level].call.remote(method, message.SerializeToString(), request_id, chunk)
        return self._collect(level, method, ref, timings)

    def _collect(self, level: str, method: str, ref: ray.ObjectRef, timings: dict) -> bytes:
        response, seconds = self._get(ref)
        timings[level].append(seconds)
        LEVEL_CALL_SECONDS.labels(level, method).observe(seconds)
        return response

    @staticmethod
    def _get(ref):
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = unwrap(err)
            if isinstance(cause, LevelError):
                raise SongError(str(cause)) from None
            raise
        except ray.exceptions.ActorDiedError as err:
            raise SongError(f"a level client actor died: {err}") from None


RemoteScheduler = ray.remote(Scheduler)
