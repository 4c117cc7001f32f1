from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TokenSpace(_message.Message):
    __slots__ = ("codec_id", "sample_rate", "frame_rate", "codebooks", "coarse_codebooks", "codebook_size", "semantic_tokenizer_id", "semantic_vocab_size", "semantic_rate", "embedding_dim", "summary_tokens", "summary_dim")
    CODEC_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    CODEBOOKS_FIELD_NUMBER: _ClassVar[int]
    COARSE_CODEBOOKS_FIELD_NUMBER: _ClassVar[int]
    CODEBOOK_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_TOKENIZER_ID_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_VOCAB_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_RATE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIM_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_DIM_FIELD_NUMBER: _ClassVar[int]
    codec_id: str
    sample_rate: int
    frame_rate: float
    codebooks: int
    coarse_codebooks: int
    codebook_size: int
    semantic_tokenizer_id: str
    semantic_vocab_size: int
    semantic_rate: float
    embedding_dim: int
    summary_tokens: int
    summary_dim: int
    def __init__(self, codec_id: _Optional[str] = ..., sample_rate: _Optional[int] = ..., frame_rate: _Optional[float] = ..., codebooks: _Optional[int] = ..., coarse_codebooks: _Optional[int] = ..., codebook_size: _Optional[int] = ..., semantic_tokenizer_id: _Optional[str] = ..., semantic_vocab_size: _Optional[int] = ..., semantic_rate: _Optional[float] = ..., embedding_dim: _Optional[int] = ..., summary_tokens: _Optional[int] = ..., summary_dim: _Optional[int] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("level", "plugin", "model_version", "checkpoint_digest", "trained", "token_space", "device", "codec_plugin", "max_chunk_frames", "max_memory_frames")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    TRAINED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SPACE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CODEC_PLUGIN_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMORY_FRAMES_FIELD_NUMBER: _ClassVar[int]
    level: str
    plugin: str
    model_version: str
    checkpoint_digest: str
    trained: bool
    token_space: TokenSpace
    device: str
    codec_plugin: str
    max_chunk_frames: int
    max_memory_frames: int
    def __init__(self, level: _Optional[str] = ..., plugin: _Optional[str] = ..., model_version: _Optional[str] = ..., checkpoint_digest: _Optional[str] = ..., trained: _Optional[bool] = ..., token_space: _Optional[_Union[TokenSpace, _Mapping]] = ..., device: _Optional[str] = ..., codec_plugin: _Optional[str] = ..., max_chunk_frames: _Optional[int] = ..., max_memory_frames: _Optional[int] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadRequest(_message.Message):
    __slots__ = ("level", "checkpoint", "plugin")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    level: str
    checkpoint: str
    plugin: str
    def __init__(self, level: _Optional[str] = ..., checkpoint: _Optional[str] = ..., plugin: _Optional[str] = ...) -> None: ...

class ReloadResponse(_message.Message):
    __slots__ = ("before", "after")
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    before: ModelInfo
    after: ModelInfo
    def __init__(self, before: _Optional[_Union[ModelInfo, _Mapping]] = ..., after: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...
