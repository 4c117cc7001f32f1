"""The token space a corpus speaks: its tokenizer, and the codec that made its
codes, which must still be the checkpoint build.json names."""
from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from hiermusic.corpus.codec_tokens import load_codec
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.token_space import corpus_token_space
from hiermusic.services.common.checkpoint import ModelCard, save_checkpoint
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeConfig, StftMagnitudeModel
from tests.services.tiny_corpus import untokenized, write_corpus

TINY = StftMagnitudeConfig(dimension=32, codebook_size=64, encoder_dim=32, encoder_layers=1, decoder_dim=32,
                           decoder_layers=1)


def codec_checkpoint(path, seed: int):
    torch.manual_seed(seed)
    card = ModelCard("stft_magnitude", "codec", f"stft_magnitude-1-{seed:08d}", asdict(TINY),
                     asdict(TokenSpaceConfig()), trained=True, steps=1)
    save_checkpoint(StftMagnitudeModel(TINY), card, path)
    return load_codec("stft_magnitude", path)


def test_a_corpus_whose_codec_checkpoint_was_replaced_is_refused(tmp_path) -> None:
    checkpoint = tmp_path / "codec.safetensors"
    codec = codec_checkpoint(checkpoint, 0)
    song = untokenized(SongLabels(song_id="s0", source="user", caption="a drone", duration_s=1.0, sections=[]), "train")
    meta = {"codec_plugin": "stft_magnitude", "codec_version": codec.version, "codec_trained": True,
            "codec_id": codec.codec_id}
    (tmp_path / "corpus").mkdir()
    corpus = write_corpus(tmp_path / "corpus", [[song]], tokenizer="feature-kmeans-8-test", clusters=8, meta=meta,
                          build={"codec_checkpoint": str(checkpoint)})
    space = corpus_token_space(TokenSpaceConfig(), corpus)
    assert space.codec_id == codec.codec_id != "seanet-small-24k" and space.codebook_size == 64

    codec_checkpoint(checkpoint, 1)  # other weights under the same name
    with pytest.raises(ValueError, match="rebuild the corpus"):
        corpus_token_space(TokenSpaceConfig(), corpus)
