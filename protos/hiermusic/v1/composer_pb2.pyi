from hiermusic.v1 import tensor_pb2 as _tensor_pb2
from hiermusic.v1 import contract_pb2 as _contract_pb2
from hiermusic.v1 import levels_pb2 as _levels_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ComposeRequest(_message.Message):
    __slots__ = ("prompt", "duration_s", "seed", "chunk_s", "overlap_s", "plan")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CHUNK_S_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_S_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    duration_s: float
    seed: int
    chunk_s: float
    overlap_s: float
    plan: _levels_pb2.PiecePlan
    def __init__(self, prompt: _Optional[str] = ..., duration_s: _Optional[float] = ..., seed: _Optional[int] = ..., chunk_s: _Optional[float] = ..., overlap_s: _Optional[float] = ..., plan: _Optional[_Union[_levels_pb2.PiecePlan, _Mapping]] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("chunk_index", "chunk_count", "start_s", "pcm", "sample_rate", "overlap_s")
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    PCM_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_S_FIELD_NUMBER: _ClassVar[int]
    chunk_index: int
    chunk_count: int
    start_s: float
    pcm: _tensor_pb2.Tensor
    sample_rate: int
    overlap_s: float
    def __init__(self, chunk_index: _Optional[int] = ..., chunk_count: _Optional[int] = ..., start_s: _Optional[float] = ..., pcm: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., sample_rate: _Optional[int] = ..., overlap_s: _Optional[float] = ...) -> None: ...

class ChunkTrace(_message.Message):
    __slots__ = ("chunk_index", "level", "summary_in_sha256", "summary_out_sha256", "seconds", "model_version", "rule_breaks", "memory_frames", "memory_of_section")
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_IN_SHA256_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_OUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RULE_BREAKS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_OF_SECTION_FIELD_NUMBER: _ClassVar[int]
    chunk_index: int
    level: str
    summary_in_sha256: str
    summary_out_sha256: str
    seconds: float
    model_version: str
    rule_breaks: _containers.RepeatedScalarFieldContainer[str]
    memory_frames: int
    memory_of_section: int
    def __init__(self, chunk_index: _Optional[int] = ..., level: _Optional[str] = ..., summary_in_sha256: _Optional[str] = ..., summary_out_sha256: _Optional[str] = ..., seconds: _Optional[float] = ..., model_version: _Optional[str] = ..., rule_breaks: _Optional[_Iterable[str]] = ..., memory_frames: _Optional[int] = ..., memory_of_section: _Optional[int] = ...) -> None: ...

class LevelTiming(_message.Message):
    __slots__ = ("level", "total_s", "calls")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_S_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    level: str
    total_s: float
    calls: int
    def __init__(self, level: _Optional[str] = ..., total_s: _Optional[float] = ..., calls: _Optional[int] = ...) -> None: ...

class ComposeSummary(_message.Message):
    __slots__ = ("wall_s", "first_audio_s", "real_time_factor", "timings", "models", "trace", "request_id")
    WALL_S_FIELD_NUMBER: _ClassVar[int]
    FIRST_AUDIO_S_FIELD_NUMBER: _ClassVar[int]
    REAL_TIME_FACTOR_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    wall_s: float
    first_audio_s: float
    real_time_factor: float
    timings: _containers.RepeatedCompositeFieldContainer[LevelTiming]
    models: _containers.RepeatedCompositeFieldContainer[_contract_pb2.ModelInfo]
    trace: _containers.RepeatedCompositeFieldContainer[ChunkTrace]
    request_id: str
    def __init__(self, wall_s: _Optional[float] = ..., first_audio_s: _Optional[float] = ..., real_time_factor: _Optional[float] = ..., timings: _Optional[_Iterable[_Union[LevelTiming, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[_contract_pb2.ModelInfo, _Mapping]]] = ..., trace: _Optional[_Iterable[_Union[ChunkTrace, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ComposeEvent(_message.Message):
    __slots__ = ("plan", "audio", "summary")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    plan: _levels_pb2.PiecePlan
    audio: AudioChunk
    summary: ComposeSummary
    def __init__(self, plan: _Optional[_Union[_levels_pb2.PiecePlan, _Mapping]] = ..., audio: _Optional[_Union[AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[ComposeSummary, _Mapping]] = ...) -> None: ...
