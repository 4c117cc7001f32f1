from __future__ import annotations

import pytest

from hiermusic.v1 import contract_pb2
from hiermusic.services.common.contract import ContractMismatch, TokenSpaceConfig, check_agreement, check_replacement


def _info(level: str, **space) -> contract_pb2.ModelInfo:
    return contract_pb2.ModelInfo(level=level, plugin=f"{level}_p", model_version="v1",
                                  token_space=TokenSpaceConfig(**space).to_proto())


def test_agreeing_levels_pass():
    check_agreement({level: _info(level) for level in ("semantic", "acoustic", "temporal")})


def test_mismatch_names_both_sides():
    infos = {"semantic": _info("semantic"), "acoustic": _info("acoustic", codebook_size=512),
             "temporal": _info("temporal")}
    with pytest.raises(ContractMismatch) as info:
        check_agreement(infos)
    message = str(info.value)
    assert "codebook_size" in message
    assert "acoustic (acoustic_p v1) has 512" in message and "temporal (temporal_p v1) has 1024" in message


def test_plan_fields_checked_against_both_lower_levels():
    infos = {"semantic": _info("semantic", embedding_dim=128), "acoustic": _info("acoustic"),
             "temporal": _info("temporal")}
    with pytest.raises(ContractMismatch, match="embedding_dim.*acoustic.*embedding_dim.*temporal"):
        check_agreement(infos)


def test_hop_and_semantic_alignment():
    space = TokenSpaceConfig()
    assert space.hop_length == 480 and space.frames_per_semantic == 4


def test_a_replacement_keeps_the_level_s_contract():
    """What a reload compares: the fields a level shares with its neighbours,
    the summary a song in flight carries (chunk levels), the temporal level's
    codec, and limits songs in flight were laid out for."""
    check_replacement(_info("semantic"), _info("semantic", summary_dim=128))  # no summary at the semantic level
    with pytest.raises(ContractMismatch, match="semantic_tokenizer_id"):
        check_replacement(_info("semantic"), _info("semantic", semantic_tokenizer_id="other"))
    with pytest.raises(ContractMismatch, match="summary_dim: acoustic .acoustic_p v1. has 256"):
        check_replacement(_info("acoustic"), _info("acoustic", summary_dim=128))
    old, new = _info("temporal"), _info("temporal")
    old.codec_plugin, new.codec_plugin = "stft_magnitude", "encodec24"
    old.max_chunk_frames, new.max_chunk_frames = 500, 400
    with pytest.raises(ContractMismatch) as err:
        check_replacement(old, new)
    assert "codec_plugin" in str(err.value) and "max_chunk_frames" in str(err.value)
    new.codec_plugin, new.max_chunk_frames = "stft_magnitude", 600  # a longer limit is fine
    check_replacement(old, new)
