"""One song as the scheduler makes it: the recipe (plan; then per chunk
coarse n, render n, emit n; then the summary) and the state the song carries
between its steps. All of it lives here and travels in the requests, so the
level services stay stateless."""
from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray

from hiermusic.orchestrator.config import SchedulerConfig
from hiermusic.orchestrator.crossfade import Crossfader
from hiermusic.orchestrator.level_client import LevelError, cancelled, failure
from hiermusic.orchestrator.metrics import (
    FIRST_AUDIO, LEVEL_CALL_ERRORS, LEVEL_CALL_SECONDS, REAL_TIME_FACTOR, SONG_SECONDS,
)
from hiermusic.orchestrator.plan_reader import PlanReader, PlanStreamError
from hiermusic.services.common.chunk_layout import Chunk, PlanArrays, chunk_context, layout, semantic_span
from hiermusic.services.common.contract import TokenSpaceConfig, describe_model
from hiermusic.services.common.limits import LEVELS
from hiermusic.services.common.tensors import TensorError, decode, encode
from hiermusic.services.common.thematic_memory import thematic_memory
from hiermusic.v1 import composer_pb2, contract_pb2, levels_pb2, tensor_pb2

F32, I64 = tensor_pb2.DTYPE_FLOAT32, tensor_pb2.DTYPE_INT64


class SongError(RuntimeError):
    """A song that could not be made; the message says which level and why."""


def unwrap(err: BaseException) -> BaseException:
    """The exception a Ray task raised, without Ray's wrapper."""
    while isinstance(err, ray.exceptions.RayTaskError) and err.cause is not None:
        err = err.cause
    return err


def fetch(ref: Any) -> Any:
    """ray.get, with a level's failure or a dead client actor as a SongError."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = unwrap(err)
        if isinstance(cause, LevelError):
            LEVEL_CALL_ERRORS.labels(*failure(str(cause))).inc()
            raise SongError(str(cause)) from None
        raise
    except ray.exceptions.ActorDiedError as err:
        raise SongError(f"a level client actor died: {err}") from None


def space_of(info: contract_pb2.ModelInfo) -> TokenSpaceConfig:
    ts = info.token_space
    return TokenSpaceConfig(**{f: getattr(ts, f) for f in TokenSpaceConfig.__dataclass_fields__})


def chunk_seed(seed: int, chunk: int, level: int) -> int:
    return (seed * 1_000_003 + chunk * 7 + level) % (2**63)


def song_chunks(
    request: composer_pb2.ComposeRequest, config: SchedulerConfig, infos: dict[str, contract_pb2.ModelInfo]
) -> list[Chunk]:
    """The piece as chunks, checked against what the chunk levels' models take."""
    fr = space_of(infos["acoustic"]).frame_rate
    chunk_frames = int(round((request.chunk_s or config.chunk_s) * fr))
    overlap_frames = int(round((request.overlap_s or config.overlap_s) * fr))
    if not 0 <= overlap_frames < chunk_frames:
        raise SongError(f"overlap of {overlap_frames} frames must be shorter than the chunk ({chunk_frames})")
    first_frames = min(int(round(config.first_chunk_s * fr)) or chunk_frames, chunk_frames)
    if first_frames <= overlap_frames:
        raise SongError(f"the first chunk ({first_frames} frames) must be longer than the overlap "
                        f"({overlap_frames}); raise first_chunk_s or lower overlap_s")
    for level in ("acoustic", "temporal"):
        if chunk_frames > infos[level].max_chunk_frames:
            raise SongError(
                f"chunks of {chunk_frames} frames are longer than {describe_model(infos[level])} "
                f"takes ({infos[level].max_chunk_frames}); use a shorter chunk length"
            )
    return layout(int(round(request.duration_s * fr)), chunk_frames, overlap_frames, first_frames)


def check(level: str, tensor: tensor_pb2.Tensor, name: str, dtype: int, shape: list) -> np.ndarray:
    """A tensor a level returned, decoded; a bad one fails the song naming the level."""
    try:
        return decode(tensor, name, dtype, shape)
    except TensorError as err:
        raise SongError(f"{level} level returned a bad {name}: {err}") from None


def plan_times(plan: levels_pb2.PiecePlan, name: str) -> np.ndarray:
    """The plan's beat or bar times (`name`); empty from a semantic level
    that plans no beat grid, and chunks then carry no beats."""
    if not plan.HasField(name):
        return np.zeros(0, np.float32)
    times = check("semantic", getattr(plan, name), name, F32, [None])
    if len(times) < 2 or not (np.diff(times) > 0).all():
        raise SongError(f"semantic level returned {name} that are not two or more increasing times")
    return times


def plan_arrays(plan: levels_pb2.PiecePlan, space: TokenSpaceConfig, frames: int) -> PlanArrays:
    """The form's arrays, checked; the tokens come later (PlanReader)."""
    return PlanArrays(
        semantic_tokens=np.zeros(0, np.int64),
        frame_sections=check("semantic", plan.frame_sections, "frame_sections", I64, [frames]),
        section_embeddings=check(
            "semantic", plan.section_embeddings, "section_embeddings", F32, [len(plan.sections), space.embedding_dim]
        ),
        section_energy=np.array([s.energy for s in plan.sections], dtype=np.float32),
        text_embedding=check("semantic", plan.text_embedding, "text_embedding", F32, [space.embedding_dim]),
        beats=plan_times(plan, "beats"),
        downbeats=plan_times(plan, "downbeats"),
        drums=plan.drums,
        # A section that says nothing of drums has the piece's.
        section_drums=np.array([s.drums or plan.drums for s in plan.sections], dtype=np.int64),
        section_modal_interchange=np.array([s.modal_interchange for s in plan.sections], dtype=bool),
        section_displacement=np.array([s.displacement for s in plan.sections], dtype=bool),
        section_start_s=np.array([s.start_s for s in plan.sections], dtype=np.float64),
        section_end_s=np.array([s.end_s for s in plan.sections], dtype=np.float64),
        section_repeat_of=np.array([s.repeat_of for s in plan.sections], dtype=np.int64),
    )


@dataclass
class Sent:
    """Chunk n asked of the acoustic level, with the context built for it:
    the render request carries that same context."""

    chunk: Chunk
    context: levels_pb2.ChunkContext
    reply: Any  # ray.ObjectRef of (CoarseResponse bytes, seconds)


@dataclass
class Coarse:
    """Chunk n once the acoustic level has answered."""

    chunk: Chunk
    context: levels_pb2.ChunkContext
    response: levels_pb2.CoarseResponse
    codes: np.ndarray  # int64 [coarse_codebooks, frames]
    seconds: float


@dataclass
class Song:
    """One song's state between its steps."""

    request: composer_pb2.ComposeRequest
    request_id: str
    clients: dict[str, Any]  # level -> RemoteLevelClient actor handle
    config: SchedulerConfig
    infos: dict[str, contract_pb2.ModelInfo]
    chunks: list[Chunk]
    log: Any  # structlog logger bound to the request id
    started: float  # perf_counter when the request arrived
    deadline: float = 0.0  # the caller's, as a wall-clock time every level call keeps within; 0: none
    reader: PlanReader | None = None  # the plan's stream, read as far as the chunks need
    arrays: PlanArrays | None = None
    fine_summary: tensor_pb2.Tensor | None = None  # temporal(n-1)'s, for temporal(n)
    fine_tokens: np.ndarray | None = None  # int64 [fine codebooks, frames] of temporal(n-1)
    # The piece's coarse codes as far as they are made: a return's chunks
    # hear its first occurrence's (thematic memory). int64 [coarse codebooks, frames]
    codes: np.ndarray = field(init=False)
    first_audio: float | None = None
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    trace: list[composer_pb2.ChunkTrace] = field(default_factory=list)
    space: TokenSpaceConfig = field(init=False)  # the acoustic level's, which its neighbours agreed to
    crossfader: Crossfader = field(init=False)

    def __post_init__(self) -> None:
        self.space = space_of(self.infos["acoustic"])
        self.crossfader = Crossfader(self.space.hop_length)
        self.codes = np.zeros((self.space.coarse_codebooks, self.chunks[-1].end), np.int64)

    def events(self) -> Iterator[composer_pb2.ComposeEvent]:
        """The recipe: the plan, then each chunk's audio, then the summary."""
        yield self.plan()
        sent = self.send_coarse(self.chunks[0], None)
        for chunk, nxt in zip(self.chunks, [*self.chunks[1:], None]):
            coarse = self.coarse(sent)
            if nxt is not None:
                # acoustic(n+1) needs only acoustic(n), so it runs while temporal(n) renders.
                sent = self.send_coarse(nxt, coarse)
            audio = self.render(coarse)
            yield self.emit(chunk, audio, nxt)
        yield self.summary()

    def plan(self) -> composer_pb2.ComposeEvent:
        """The plan streams in: the form now, the tokens as the chunks need them."""
        request = levels_pb2.PlanRequest(
            prompt=self.request.prompt,
            duration_s=self.request.duration_s,
            sampling=levels_pb2.Sampling(seed=chunk_seed(self.request.seed, 0, 0)),
            plan=self.request.plan if self.request.HasField("plan") else None,  # the level completes it
        )
        # One deadline for the whole stream, a call's per minute of music: a
        # 600 s plan samples ten times the tokens of a 60 s one.
        parts = self.clients["semantic"].stream.options(num_returns="streaming").remote(
            "PlanStream", request.SerializeToString(), self.request_id,
            self.config.rpc_deadline_s * math.ceil(self.request.duration_s / 60.0), self.deadline,
        )
        try:
            self.reader = PlanReader(fetch(ref) for ref in parts)
        except PlanStreamError as err:
            raise SongError(str(err)) from None
        form = self.reader.form
        self.arrays = plan_arrays(form, self.space, self.reader.total)
        self.log.info("planned", sections=len(form.sections), tempo_bpm=form.tempo_bpm)
        return composer_pb2.ComposeEvent(plan=form)

    def send_coarse(self, chunk: Chunk, previous: Coarse | None) -> Sent:
        """Asks the acoustic level for chunk n, carrying on from chunk n-1's
        summary and its codes in the overlap; does not wait for the answer."""
        self._going_on()
        context = self._context(chunk)
        request = levels_pb2.CoarseRequest(
            context=context,
            sampling=levels_pb2.Sampling(seed=chunk_seed(self.request.seed, chunk.index, 1)),
        )
        if previous is not None:
            request.summary.CopyFrom(previous.response.summary)
            prefix = previous.codes[:, chunk.start - previous.chunk.start :]
            if prefix.size:
                request.prefix_tokens.CopyFrom(encode(prefix))
        memory = thematic_memory(self.arrays, chunk, self.codes, self.space.frame_rate,
                                 self.infos["acoustic"].max_memory_frames)
        if memory is not None:
            request.memory.CopyFrom(memory)
        reply = self.clients["acoustic"].call.remote(
            "GenerateCoarse", request.SerializeToString(), self.request_id, chunk.index, self.deadline
        )
        return Sent(chunk, context, reply)

    def coarse(self, sent: Sent) -> Coarse:
        """Chunk n's coarse codes, once the acoustic level has them."""
        data, seconds = self._collect("acoustic", "GenerateCoarse", sent.reply)
        response = levels_pb2.CoarseResponse.FromString(data)
        codes = check(
            "acoustic", response.coarse_tokens, "coarse_tokens", I64, [self.space.coarse_codebooks, sent.chunk.frames]
        )
        self.codes[:, sent.chunk.start : sent.chunk.end] = codes
        return Coarse(sent.chunk, sent.context, response, codes, seconds)

    def render(self, coarse: Coarse) -> np.ndarray:
        """Chunk n's audio (float32 [frames * hop]) from the temporal level,
        carrying on from chunk n-1's summary and fine tokens in the overlap."""
        self._going_on()
        chunk, space = coarse.chunk, self.space
        request = levels_pb2.RenderRequest(
            context=coarse.context,
            coarse_tokens=coarse.response.coarse_tokens,
            sampling=levels_pb2.Sampling(seed=chunk_seed(self.request.seed, chunk.index, 2)),
        )
        if self.fine_summary is not None:
            request.summary.CopyFrom(self.fine_summary)
        if chunk.overlap:
            request.prefix_tokens.CopyFrom(encode(self.fine_tokens[:, -chunk.overlap :]))
        reply = self.clients["temporal"].call.remote(
            "Render", request.SerializeToString(), self.request_id, chunk.index, self.deadline)
        data, seconds = self._collect("temporal", "Render", reply)
        response = levels_pb2.RenderResponse.FromString(data)
        audio = check("temporal", response.audio, "audio", F32, [chunk.frames * space.hop_length])
        self.fine_tokens = check(
            "temporal", response.fine_tokens, "fine_tokens", I64, [space.codebooks - space.coarse_codebooks, chunk.frames]
        )
        self.fine_summary = response.summary
        coarse_memory = (coarse.response.memory_frames, coarse.response.memory_of_section)
        for level, answer, took, (memory_frames, memory_of) in (
            ("acoustic", coarse.response, coarse.seconds, coarse_memory),
            ("temporal", response, seconds, (0, -1)),  # the temporal level takes no thematic memory
        ):
            self.trace.append(
                composer_pb2.ChunkTrace(
                    chunk_index=chunk.index,
                    level=level,
                    summary_in_sha256=answer.summary_in_sha256,
                    summary_out_sha256=answer.summary_out_sha256,
                    seconds=took,
                    model_version=answer.model.model_version,
                    rule_breaks=answer.rule_breaks,
                    memory_frames=memory_frames,
                    memory_of_section=memory_of,
                )
            )
        return audio

    def emit(self, chunk: Chunk, audio: np.ndarray, nxt: Chunk | None) -> composer_pb2.ComposeEvent:
        """Chunk n's samples, crossfaded into chunk n-1's; the tail that
        chunk n+1 overlaps waits for it."""
        pcm = self.crossfader.add(chunk, audio, nxt)
        if self.first_audio is None:
            self.first_audio = time.perf_counter() - self.started
            FIRST_AUDIO.observe(self.first_audio)
        self.log.info("chunk", chunk_index=chunk.index, chunks=len(self.chunks))
        fr = self.space.frame_rate
        return composer_pb2.ComposeEvent(
            audio=composer_pb2.AudioChunk(
                chunk_index=chunk.index,
                chunk_count=len(self.chunks),
                start_s=chunk.start / fr,  # the crossfaded overlap opens each chunk's samples
                pcm=encode(pcm),
                sample_rate=self.space.sample_rate,
                overlap_s=chunk.overlap / fr,
            )
        )

    def summary(self) -> composer_pb2.ComposeEvent:
        """Per-level timings, the models that made the song and each chunk's trace."""
        try:
            self.reader.finish()
        except PlanStreamError as err:
            raise SongError(str(err)) from None
        self.timings["semantic"].append(self.reader.seconds)
        LEVEL_CALL_SECONDS.labels("semantic", "PlanStream").observe(self.reader.seconds)
        wall = time.perf_counter() - self.started
        SONG_SECONDS.observe(wall)
        REAL_TIME_FACTOR.observe(wall / self.request.duration_s)
        self.log.info("composed", wall_s=round(wall, 3), chunks=len(self.chunks))
        return composer_pb2.ComposeEvent(
            summary=composer_pb2.ComposeSummary(
                wall_s=wall,
                first_audio_s=self.first_audio or wall,
                real_time_factor=wall / self.request.duration_s,
                timings=[
                    composer_pb2.LevelTiming(level=k, total_s=sum(v), calls=len(v)) for k, v in self.timings.items()
                ],
                models=[self.infos[level] for level in LEVELS],
                trace=self.trace,
                request_id=self.request_id,
            )
        )

    def _context(self, chunk: Chunk) -> levels_pb2.ChunkContext:
        """Chunk n's slice of the plan, read from the stream as far as it reaches."""
        _, hi = semantic_span(chunk, self.space, self.config.semantic_margin_s, self.reader.total)
        try:
            self.arrays.semantic_tokens = self.reader.until(hi)
        except PlanStreamError as err:
            raise SongError(str(err)) from None
        return chunk_context(self.arrays, chunk, self.space, self.config.semantic_margin_s)

    def _going_on(self) -> None:
        """Stops a cancelled song before it asks a level for more (the calls
        it has in flight are cancelled by Ray with it)."""
        if cancelled():
            raise SongError("the song was cancelled: its caller left or its deadline passed")

    def _collect(self, level: str, method: str, reply: Any) -> tuple[bytes, float]:
        data, seconds = fetch(reply)
        self.timings[level].append(seconds)
        LEVEL_CALL_SECONDS.labels(level, method).observe(seconds)
        return data, seconds
