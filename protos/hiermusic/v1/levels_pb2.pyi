from hiermusic.v1 import tensor_pb2 as _tensor_pb2
from hiermusic.v1 import contract_pb2 as _contract_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Drums(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRUMS_UNSAID: _ClassVar[Drums]
    DRUMS_WANTED: _ClassVar[Drums]
    DRUMS_UNWANTED: _ClassVar[Drums]
DRUMS_UNSAID: Drums
DRUMS_WANTED: Drums
DRUMS_UNWANTED: Drums

class Sampling(_message.Message):
    __slots__ = ("temperature", "top_k", "seed", "guidance_scale")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_k: int
    seed: int
    guidance_scale: float
    def __init__(self, temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., seed: _Optional[int] = ..., guidance_scale: _Optional[float] = ...) -> None: ...

class Section(_message.Message):
    __slots__ = ("type", "start_s", "end_s", "bars", "energy", "repeat_of", "description", "drums", "seconds", "modal_interchange", "displacement")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    ENERGY_FIELD_NUMBER: _ClassVar[int]
    REPEAT_OF_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DRUMS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MODAL_INTERCHANGE_FIELD_NUMBER: _ClassVar[int]
    DISPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    type: str
    start_s: float
    end_s: float
    bars: int
    energy: float
    repeat_of: int
    description: str
    drums: Drums
    seconds: float
    modal_interchange: bool
    displacement: bool
    def __init__(self, type: _Optional[str] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., bars: _Optional[int] = ..., energy: _Optional[float] = ..., repeat_of: _Optional[int] = ..., description: _Optional[str] = ..., drums: _Optional[_Union[Drums, str]] = ..., seconds: _Optional[float] = ..., modal_interchange: _Optional[bool] = ..., displacement: _Optional[bool] = ...) -> None: ...

class PlanRequest(_message.Message):
    __slots__ = ("prompt", "duration_s", "sampling", "plan")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    duration_s: float
    sampling: Sampling
    plan: PiecePlan
    def __init__(self, prompt: _Optional[str] = ..., duration_s: _Optional[float] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., plan: _Optional[_Union[PiecePlan, _Mapping]] = ...) -> None: ...

class PiecePlan(_message.Message):
    __slots__ = ("sections", "tempo_bpm", "key", "mode", "text_embedding", "section_embeddings", "semantic_tokens", "frame_sections", "duration_s", "model", "beats", "downbeats", "drums", "prompt", "extended_intro", "abrupt_ending")
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    SECTION_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FRAME_SECTIONS_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BEATS_FIELD_NUMBER: _ClassVar[int]
    DOWNBEATS_FIELD_NUMBER: _ClassVar[int]
    DRUMS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_INTRO_FIELD_NUMBER: _ClassVar[int]
    ABRUPT_ENDING_FIELD_NUMBER: _ClassVar[int]
    sections: _containers.RepeatedCompositeFieldContainer[Section]
    tempo_bpm: float
    key: str
    mode: str
    text_embedding: _tensor_pb2.Tensor
    section_embeddings: _tensor_pb2.Tensor
    semantic_tokens: _tensor_pb2.Tensor
    frame_sections: _tensor_pb2.Tensor
    duration_s: float
    model: _contract_pb2.ModelInfo
    beats: _tensor_pb2.Tensor
    downbeats: _tensor_pb2.Tensor
    drums: Drums
    prompt: str
    extended_intro: bool
    abrupt_ending: bool
    def __init__(self, sections: _Optional[_Iterable[_Union[Section, _Mapping]]] = ..., tempo_bpm: _Optional[float] = ..., key: _Optional[str] = ..., mode: _Optional[str] = ..., text_embedding: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., section_embeddings: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., semantic_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., frame_sections: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., duration_s: _Optional[float] = ..., model: _Optional[_Union[_contract_pb2.ModelInfo, _Mapping]] = ..., beats: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., downbeats: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., drums: _Optional[_Union[Drums, str]] = ..., prompt: _Optional[str] = ..., extended_intro: _Optional[bool] = ..., abrupt_ending: _Optional[bool] = ...) -> None: ...

class ChunkContext(_message.Message):
    __slots__ = ("chunk_index", "start_frame", "num_frames", "semantic_start", "semantic_tokens", "frame_sections", "section_embeddings", "text_embedding", "section_energy", "frame_beats", "drums", "section_drums", "section_modal_interchange", "section_displacement")
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_START_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FRAME_SECTIONS_FIELD_NUMBER: _ClassVar[int]
    SECTION_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    TEXT_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    SECTION_ENERGY_FIELD_NUMBER: _ClassVar[int]
    FRAME_BEATS_FIELD_NUMBER: _ClassVar[int]
    DRUMS_FIELD_NUMBER: _ClassVar[int]
    SECTION_DRUMS_FIELD_NUMBER: _ClassVar[int]
    SECTION_MODAL_INTERCHANGE_FIELD_NUMBER: _ClassVar[int]
    SECTION_DISPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    chunk_index: int
    start_frame: int
    num_frames: int
    semantic_start: int
    semantic_tokens: _tensor_pb2.Tensor
    frame_sections: _tensor_pb2.Tensor
    section_embeddings: _tensor_pb2.Tensor
    text_embedding: _tensor_pb2.Tensor
    section_energy: _containers.RepeatedScalarFieldContainer[float]
    frame_beats: _tensor_pb2.Tensor
    drums: Drums
    section_drums: _containers.RepeatedScalarFieldContainer[Drums]
    section_modal_interchange: _containers.RepeatedScalarFieldContainer[bool]
    section_displacement: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, chunk_index: _Optional[int] = ..., start_frame: _Optional[int] = ..., num_frames: _Optional[int] = ..., semantic_start: _Optional[int] = ..., semantic_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., frame_sections: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., section_embeddings: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., text_embedding: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., section_energy: _Optional[_Iterable[float]] = ..., frame_beats: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., drums: _Optional[_Union[Drums, str]] = ..., section_drums: _Optional[_Iterable[_Union[Drums, str]]] = ..., section_modal_interchange: _Optional[_Iterable[bool]] = ..., section_displacement: _Optional[_Iterable[bool]] = ...) -> None: ...

class ThematicMemory(_message.Message):
    __slots__ = ("of_section", "chunk_offset", "coarse_tokens")
    OF_SECTION_FIELD_NUMBER: _ClassVar[int]
    CHUNK_OFFSET_FIELD_NUMBER: _ClassVar[int]
    COARSE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    of_section: int
    chunk_offset: int
    coarse_tokens: _tensor_pb2.Tensor
    def __init__(self, of_section: _Optional[int] = ..., chunk_offset: _Optional[int] = ..., coarse_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class CoarseRequest(_message.Message):
    __slots__ = ("context", "summary", "prefix_tokens", "sampling", "memory")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PREFIX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    context: ChunkContext
    summary: _tensor_pb2.Tensor
    prefix_tokens: _tensor_pb2.Tensor
    sampling: Sampling
    memory: ThematicMemory
    def __init__(self, context: _Optional[_Union[ChunkContext, _Mapping]] = ..., summary: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., prefix_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., memory: _Optional[_Union[ThematicMemory, _Mapping]] = ...) -> None: ...

class CoarseResponse(_message.Message):
    __slots__ = ("coarse_tokens", "summary", "summary_in_sha256", "summary_out_sha256", "model", "rule_breaks", "memory_frames", "memory_of_section")
    COARSE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_IN_SHA256_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_OUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RULE_BREAKS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_OF_SECTION_FIELD_NUMBER: _ClassVar[int]
    coarse_tokens: _tensor_pb2.Tensor
    summary: _tensor_pb2.Tensor
    summary_in_sha256: str
    summary_out_sha256: str
    model: _contract_pb2.ModelInfo
    rule_breaks: _containers.RepeatedScalarFieldContainer[str]
    memory_frames: int
    memory_of_section: int
    def __init__(self, coarse_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., summary: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., summary_in_sha256: _Optional[str] = ..., summary_out_sha256: _Optional[str] = ..., model: _Optional[_Union[_contract_pb2.ModelInfo, _Mapping]] = ..., rule_breaks: _Optional[_Iterable[str]] = ..., memory_frames: _Optional[int] = ..., memory_of_section: _Optional[int] = ...) -> None: ...

class RenderRequest(_message.Message):
    __slots__ = ("context", "coarse_tokens", "summary", "prefix_tokens", "sampling")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    COARSE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PREFIX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    context: ChunkContext
    coarse_tokens: _tensor_pb2.Tensor
    summary: _tensor_pb2.Tensor
    prefix_tokens: _tensor_pb2.Tensor
    sampling: Sampling
    def __init__(self, context: _Optional[_Union[ChunkContext, _Mapping]] = ..., coarse_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., summary: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., prefix_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ...) -> None: ...

class RenderResponse(_message.Message):
    __slots__ = ("fine_tokens", "audio", "summary", "summary_in_sha256", "summary_out_sha256", "model", "rule_breaks")
    FINE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_IN_SHA256_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_OUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RULE_BREAKS_FIELD_NUMBER: _ClassVar[int]
    fine_tokens: _tensor_pb2.Tensor
    audio: _tensor_pb2.Tensor
    summary: _tensor_pb2.Tensor
    summary_in_sha256: str
    summary_out_sha256: str
    model: _contract_pb2.ModelInfo
    rule_breaks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fine_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., audio: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., summary: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., summary_in_sha256: _Optional[str] = ..., summary_out_sha256: _Optional[str] = ..., model: _Optional[_Union[_contract_pb2.ModelInfo, _Mapping]] = ..., rule_breaks: _Optional[_Iterable[str]] = ...) -> None: ...

class PlanPart(_message.Message):
    __slots__ = ("form", "semantic_tokens")
    FORM_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_TOKENS_FIELD_NUMBER: _ClassVar[int]
    form: PiecePlan
    semantic_tokens: _tensor_pb2.Tensor
    def __init__(self, form: _Optional[_Union[PiecePlan, _Mapping]] = ..., semantic_tokens: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
