"""The token-space contract: the defaults a level is built with, and the check
that adjacent levels agree before the scheduler sends them a song."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from hiermusic.v1 import contract_pb2


@dataclass
class TokenSpaceConfig:
    codec_id: str = "seanet-small-24k"
    sample_rate: int = 24000
    frame_rate: float = 50.0
    codebooks: int = 8
    coarse_codebooks: int = 2
    codebook_size: int = 1024
    semantic_tokenizer_id: str = "feature-kmeans-512"
    semantic_vocab_size: int = 512
    semantic_rate: float = 12.5
    embedding_dim: int = 256
    summary_tokens: int = 8
    summary_dim: int = 256

    def to_proto(self) -> contract_pb2.TokenSpace:
        return contract_pb2.TokenSpace(**asdict(self))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate / self.frame_rate))

    @property
    def frames_per_semantic(self) -> int:
        return int(round(self.frame_rate / self.semantic_rate))


# What a codec fixes of the token space: a model that speaks a codec's codes,
# or a corpus tokenized by it, takes these fields from the codec.
CODEC_FIELDS = ("codec_id", "sample_rate", "frame_rate", "codebooks", "codebook_size")

# Fields each pair of adjacent levels must share. The chunk levels also agree
# on how many codebooks are coarse: the acoustic level writes those, the
# temporal level the rest.
_PLAN_FIELDS = ("semantic_tokenizer_id", "semantic_vocab_size", "semantic_rate", "embedding_dim")
SHARED_FIELDS = {
    ("semantic", "acoustic"): _PLAN_FIELDS,
    ("semantic", "temporal"): _PLAN_FIELDS,
    ("acoustic", "temporal"): CODEC_FIELDS + ("coarse_codebooks",),
}


class ContractMismatch(RuntimeError):
    pass


def describe_model(info: contract_pb2.ModelInfo) -> str:
    return f"{info.level} ({info.plugin} {info.model_version})"


def _differences(a: contract_pb2.ModelInfo, b: contract_pb2.ModelInfo, fields: tuple[str, ...]) -> list[str]:
    """Each of `fields` whose token-space value differs, naming both models and values."""
    problems = []
    for name in fields:
        va, vb = getattr(a.token_space, name), getattr(b.token_space, name)
        if va != vb:
            problems.append(f"{name}: {describe_model(a)} has {va!r} but {describe_model(b)} has {vb!r}")
    return problems


def check_agreement(infos: dict[str, contract_pb2.ModelInfo]) -> None:
    """Raises ContractMismatch naming both sides of every field that differs."""
    problems = [p for (a, b), fields in SHARED_FIELDS.items() for p in _differences(infos[a], infos[b], fields)]
    if problems:
        raise ContractMismatch("token-space contract mismatch: " + "; ".join(problems))


# A chunk level's summary goes from one chunk of a song to the next, so a song
# in flight across a reload hands the old model's summary to the new one.
_CARRIED_FIELDS = {"semantic": (), "acoustic": ("summary_tokens", "summary_dim"),
                   "temporal": ("summary_tokens", "summary_dim")}


def replacement_fields(level: str) -> tuple[str, ...]:
    """The token-space fields a level's new model must keep: those it shares
    with its neighbours (the contract the mesh agreed on) and those a song in
    flight carries from one of its chunks to the next."""
    shared = [name for pair, fields in SHARED_FIELDS.items() if level in pair for name in fields]
    return tuple(dict.fromkeys(shared + list(_CARRIED_FIELDS[level])))


def check_replacement(serving: contract_pb2.ModelInfo, new: contract_pb2.ModelInfo) -> None:
    """Raises ContractMismatch naming what differs when `new` cannot take
    `serving`'s place between two calls: a token-space field of the level's
    contract, the codec (temporal level), or a limit that shrinks under the
    chunks and memories songs in flight were laid out for."""
    problems = _differences(serving, new, replacement_fields(serving.level))
    if serving.codec_plugin != new.codec_plugin:
        problems.append(f"codec_plugin: {describe_model(serving)} has {serving.codec_plugin!r} "
                        f"but {describe_model(new)} has {new.codec_plugin!r}")
    for limit in ("max_chunk_frames", "max_memory_frames"):
        if getattr(new, limit) < getattr(serving, limit):
            problems.append(f"{limit}: {describe_model(new)} takes {getattr(new, limit)}, fewer than "
                            f"{describe_model(serving)}'s {getattr(serving, limit)} that songs in flight may use")
    if problems:
        raise ContractMismatch(f"{describe_model(new)} cannot replace {describe_model(serving)}: " + "; ".join(problems))
