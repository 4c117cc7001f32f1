from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hiermusic.corpus.chunked_songs import Chunking, load_songs
from hiermusic.corpus.token_space import corpus_token_space
from hiermusic.services.acoustic.coarse_data import Window, chunk_batch, training_windows
from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer
from hiermusic.services.acoustic.coarse_training import Geometry, walk
from hiermusic.services.common.chunk_context import decode_context
from hiermusic.services.common.chunk_layout import chunk_context
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.semantic.label_plans import SemanticPlanConditioner
from tests.services.acoustic.conftest import CODEBOOK_SIZE, HOP, OVERLAP, SECTION_FRAME, SONG_FRAMES, pattern

CPU = torch.device("cpu")
CHUNKING = Chunking(HOP + OVERLAP, OVERLAP, 0.16)
MODEL = CoarseConfig(token_space=TokenSpaceConfig(codebook_size=CODEBOOK_SIZE, summary_dim=64),
                     transformer=TransformerConfig(dim=32, layers=1, heads=2, max_len=64))


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def space(corpus_dir) -> TokenSpaceConfig:
    return corpus_token_space(MODEL.token_space, corpus_dir)


@pytest.fixture(scope="module")
def songs(corpus_dir, space):
    return load_songs(corpus_dir, space, CHUNKING, SemanticPlanConditioner(None, space, CPU), lambda _: None)


def test_songs_carry_their_codes_labelled_plan_and_the_scheduler_s_layout(songs, space) -> None:
    song = songs[0]
    assert song.codes.shape == (8, SONG_FRAMES)
    np.testing.assert_array_equal(song.codes[:2].numpy(), pattern(int(song.codes[0, OVERLAP]) - 100))
    assert [(c.start, c.end, c.overlap) for c in song.chunks[:2]] == [(0, 24, 0), (16, 40, 8)]
    assert song.chunks[-1].end == SONG_FRAMES
    plan = song.plan
    # The frame -> section map and the energies come from the labels (energy on the planner's bins).
    assert plan.frame_sections.tolist() == [0] * (SECTION_FRAME // 4) + [1] * (SONG_FRAMES // 4 - SECTION_FRAME // 4)
    assert plan.section_energy.tolist() == [0.25, 0.75]
    assert plan.section_embeddings.shape == (2, space.embedding_dim)
    assert plan.text_embedding.shape == (space.embedding_dim,)
    assert not np.allclose(plan.section_embeddings[0], plan.section_embeddings[1])  # verse and chorus differ


def test_a_chunk_in_a_padded_batch_is_what_the_plugin_computes_alone(songs, space) -> None:
    """Chunks touching different numbers of sections and plan tokens share a
    batch; padding and masks must leave each one's logits as served."""
    torch.manual_seed(0)
    model = CoarseTransformer(replace(MODEL, token_space=space)).eval()
    windows = [Window(songs[0], 0, 1), Window(songs[1], 2, 1), Window(songs[2], 5, 1)]  # edge, boundary, end
    batch = chunk_batch(windows, 0, space, CHUNKING, 56, CPU)
    assert batch.plan.section_mask.tolist() == [[True, False], [True, True], [True, False]]
    assert not batch.plan.semantic_mask.all()
    summary = torch.randn(3, space.summary_tokens, space.summary_dim)
    with torch.no_grad():
        together, pooled = model(batch.codes, batch.plan, summary)
        for i, w in enumerate(windows):
            chunk = w.song.chunks[w.first]
            ctx = decode_context(chunk_context(w.song.plan, chunk, space, CHUNKING.margin_s), space, 56)
            plan = PlanContext.from_chunks([ctx], chunk.frames, space.frames_per_semantic, CPU)
            alone, alone_pooled = model(w.song.codes[None, :2, chunk.start : chunk.end].long(), plan,
                                        summary[i : i + 1])
            assert torch.allclose(together[i], alone[0], atol=1e-5)
            assert torch.allclose(pooled[i], alone_pooled[0], atol=1e-5)


def test_batches_mark_the_frames_each_chunk_writes_and_the_song_s_first_chunk(songs, space) -> None:
    first, later = Window(songs[0], 0, 3), Window(songs[1], 3, 3)
    batch = chunk_batch([first, later], 0, space, CHUNKING, 56, CPU)
    assert batch.opens.tolist() == [True, False] and batch.continues.tolist() == [False, True]
    assert batch.generated[0].all()  # a song's first chunk writes every frame
    assert not batch.generated[1, :OVERLAP].any() and batch.generated[1, OVERLAP:].all()
    assert torch.equal(batch.codes[1], torch.from_numpy(pattern(songs[1].codes[0, OVERLAP].item() - 100))[:, 48:72])
    beyond = chunk_batch([later], 3, space, CHUNKING, 56, CPU)  # past the window: no real frames
    assert not beyond.frames.any() and not beyond.continues.any()
    warm = chunk_batch([first, later], -1, space, CHUNKING, 56, CPU)  # the chunk before each window
    assert not warm.frames[0].any() and warm.frames[1].all()
    windows = training_windows(songs[:1], 3)
    assert [(w.first, w.count) for w in windows] == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_a_chunk_in_a_return_trains_with_the_memory_the_scheduler_would_send(songs, space) -> None:
    """The labelled plan's sections reach the trainer; where the chorus is
    made to return to the verse, its chunks get the verse's own codes at the
    same offset from the section's start (thematic_memory.memory_span), and
    the memory reaches the model's loss."""
    plan = songs[0].plan
    assert plan.section_start_s.tolist() == [0.0, SECTION_FRAME / 50] and plan.section_repeat_of.tolist() == [0, 1]
    assert chunk_batch([Window(songs[0], 0, 6)], 4, space, CHUNKING, 56, CPU, 56).memory is None  # no return
    song = replace(songs[0], plan=replace(plan, section_repeat_of=np.array([0, 0])), contexts={}, memories={})
    window = Window(song, 0, 6)
    assert chunk_batch([window], 1, space, CHUNKING, 56, CPU, 56).memory is None  # in the verse
    assert chunk_batch([window], 4, space, CHUNKING, 56, CPU).memory is None  # a model that takes none
    batch = chunk_batch([window, Window(songs[1], 0, 6)], 4, space, CHUNKING, 56, CPU, 56)
    memory = batch.memory
    # Chunk 4 (frames 64..87) writes 72..87, 20..35 frames into the chorus: the verse's frames 20..35.
    assert memory.present.tolist() == [True, False] and memory.mask[0].sum() == 16
    assert memory.frames[0].tolist() == list(range(8, 24))
    assert torch.equal(memory.codes[0], song.codes[:2, 20:36].long())
    model = CoarseTransformer(replace(MODEL, token_space=space))
    logits, _ = model(batch.codes, batch.plan, None, theme=memory)
    F.cross_entropy(logits.flatten(0, 2), batch.codes.flatten()).backward()
    assert model.theme.gate.grad.abs() > 0  # the gate starts shut and learns to open


def test_a_walk_scores_the_chunks_in_a_return_apart(songs, space) -> None:
    """coarse_training.walk sums the cross-entropy of the chunks that carry a
    memory apart, so a run can say what the memory is worth in returns."""
    plan = songs[0].plan
    song = replace(songs[0], plan=replace(plan, section_repeat_of=np.array([0, 0])), contexts={}, memories={})
    model = CoarseTransformer(replace(MODEL, token_space=space)).eval()
    with torch.no_grad():
        sums = walk(model, [Window(song, 0, 6)], Geometry(CHUNKING, 56, CPU, 56))
        before = walk(model, [Window(songs[0], 0, 6)], Geometry(CHUNKING, 56, CPU, 56))
    # Frames 52..103 are the chorus (a return of the verse), every one written by some chunk, and each with
    # the verse's frame at the same offset in its memory (frames, not frames times codebooks).
    assert sums.written_return == 52 and sums.written == 104
    assert sums.ce_return.sum() < sums.ce.sum() and sums.ce_return_mean() > 0
    assert before.written_return == 0 and before.ce_return_mean() == 0  # no return, nothing apart
