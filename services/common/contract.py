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


def check_agreement(infos: dict[str, contract_pb2.ModelInfo]) -> None:
    """Raises ContractMismatch naming both sides of every field that differs."""
    problems = []
    for (a, b), fields in SHARED_FIELDS.items():
        sa, sb = infos[a].token_space, infos[b].token_space
        for name in fields:
            va, vb = getattr(sa, name), getattr(sb, name)
            if va != vb:
                problems.append(
                    f"{name}: {describe_model(infos[a])} has {va!r} but "
                    f"{describe_model(infos[b])} has {vb!r}"
                )
    if problems:
        raise ContractMismatch("token-space contract mismatch: " + "; ".join(problems))
