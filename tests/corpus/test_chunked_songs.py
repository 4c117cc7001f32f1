from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hiermusic.corpus import shards
from hiermusic.corpus.chunked_songs import Chunking, PlanConditioner, load_songs
from hiermusic.corpus.labels import SectionLabel, SongLabels
from hiermusic.services.common.chunk_context import decode_context
from hiermusic.services.common.chunk_layout import PlanArrays, chunk_context
from hiermusic.services.common.contract import TokenSpaceConfig
from tests.services.tiny_corpus import write_corpus

FRAMES = 104  # codec frames a song: 26 semantic frames
TOKENIZER = "feature-kmeans-64-test"
SPACE = TokenSpaceConfig(codebook_size=256, semantic_tokenizer_id=TOKENIZER, semantic_vocab_size=64)
CHUNKING = Chunking(24, 8, 0.16)


class StubPlans:
    """A plan conditioner without a semantic model: one section per song,
    its text embedding the song's index, what the loader must pass on."""

    version = "stub-plans-1"

    def plans(self, songs: list[SongLabels], semantic: list[np.ndarray]) -> list[PlanArrays]:
        e = SPACE.embedding_dim
        return [PlanArrays(semantic_tokens=tokens.astype(np.int64), frame_sections=np.zeros(len(tokens), np.int64),
                           section_embeddings=np.ones((1, e), np.float32), section_energy=np.array([0.5], np.float32),
                           text_embedding=np.full(e, float(song.song_id[-1]), np.float32))
                for song, tokens in zip(songs, semantic)]


def labels(i: int) -> SongLabels:
    return SongLabels(song_id=f"song-{i}", source="synthetic", caption="a test song", duration_s=FRAMES / 50,
                      sections=[SectionLabel("verse", 0.0, FRAMES / 50, 2, 0.5)],
                      tempo_bpm=None if i == 2 else 120.0, key="C", mode="major")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    songs = [shards.ShardSong(labels(i), split, rng.integers(0, 256, (8, FRAMES)).astype(np.int16),
                              np.zeros((FRAMES // 4, 27), np.float16))
             for i, split in enumerate(["train", "train", "valid", "test"])]
    semantic = {s.labels.song_id: rng.integers(0, 64, FRAMES // 4) for s in songs}
    return write_corpus(tmp_path_factory.mktemp("chunked"), [songs[:2], songs[2:]], semantic, TOKENIZER, 64)


def test_a_stub_is_a_plan_conditioner() -> None:
    conditioner: PlanConditioner = StubPlans()  # the trainers take any such object, not the semantic level's
    assert conditioner.version == "stub-plans-1"


def test_songs_carry_every_codebook_their_plan_and_the_scheduler_s_layout(corpus_dir) -> None:
    lines: list[str] = []
    songs = load_songs(corpus_dir, SPACE, CHUNKING, StubPlans(), lines.append)
    assert [(s.song_id, s.split) for s in songs] == [("song-0", "train"), ("song-1", "train"), ("song-2", "valid"),
                                                      ("song-3", "test")]
    song = songs[1]
    assert song.codes.shape == (8, FRAMES) and song.codes.dtype == torch.int16
    assert song.plan.text_embedding[0] == 1.0 and len(song.plan.semantic_tokens) == FRAMES // 4
    assert [(c.start, c.end, c.overlap) for c in song.chunks[:2]] == [(0, 24, 0), (16, 40, 8)]
    assert song.chunks[-1].end == FRAMES
    assert lines == ["1 of 4 songs lack part of a plan (tempo, key, mode, section types or energy); "
                     "defaults stand in"]


def test_a_chunk_s_context_is_what_the_service_decodes_and_is_made_once(corpus_dir) -> None:
    song = load_songs(corpus_dir, SPACE, CHUNKING, StubPlans(), print)[0]
    chunk = song.chunks[2]
    ctx = song.context(chunk, SPACE, CHUNKING.margin_s, 56)
    served = decode_context(chunk_context(song.plan, chunk, SPACE, CHUNKING.margin_s), SPACE, 56)
    assert (ctx.start_frame, ctx.num_frames, ctx.semantic_start) == (served.start_frame, served.num_frames,
                                                                     served.semantic_start)
    np.testing.assert_array_equal(ctx.semantic_tokens, served.semantic_tokens)
    assert song.context(chunk, SPACE, CHUNKING.margin_s, 56) is ctx


def test_tokens_of_another_tokenizer_are_refused(corpus_dir) -> None:
    other = replace(SPACE, semantic_tokenizer_id="feature-kmeans-64-other")
    with pytest.raises(ValueError, match="was tokenized by feature-kmeans-64-test"):
        load_songs(corpus_dir, other, CHUNKING, StubPlans(), print)


def test_chunking_in_frames_must_fit_the_model_and_hop_by_semantic_frames() -> None:
    chunking = Chunking.of(5.0, 1.0, 1.0, TokenSpaceConfig(), 504)
    assert (chunking.frames, chunking.overlap, chunking.hop, chunking.margin_s) == (250, 50, 200, 1.0)
    with pytest.raises(ValueError, match="at most 200 frames"):
        Chunking.of(5.0, 1.0, 1.0, TokenSpaceConfig(), 200)
    with pytest.raises(ValueError, match="overlap must be shorter"):
        Chunking.of(1.0, 1.0, 1.0, TokenSpaceConfig(), 504)
    with pytest.raises(ValueError, match="whole semantic frames"):
        Chunking.of(1.0, 0.1, 1.0, TokenSpaceConfig(), 504)
