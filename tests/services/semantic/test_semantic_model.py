from __future__ import annotations

import math

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from hiermusic.services.common.chunk_layout import semantic_frames
from hiermusic.services.common.nn import TransformerConfig
from hiermusic.services.semantic.semantic_model import (
    PieceConditioning,
    SemanticConfig,
    SemanticTransformer,
    frame_layout,
    repeat_sources,
)
from hiermusic.services.semantic.sampling import SemanticSampling

RATE = 12.5
# The bare sampler: no repeat copying, key keeping or drums floor; the tests
# below switch them on one at a time.
PLAIN = SemanticSampling(repeat_copy=0.0, key_weight=0.0, key_window=50, drums_weight=1.0, drums_floor=0.0)


def sampled(temperature: float, top_k: int, **knobs: float) -> SemanticSampling:
    return replace(PLAIN, temperature=temperature, top_k=top_k, **knobs)


@pytest.fixture(scope="module")
def model() -> SemanticTransformer:
    torch.manual_seed(0)
    config = SemanticConfig(transformer=TransformerConfig(dim=64, layers=2, heads=4, max_len=512))
    return SemanticTransformer(config).eval()


def _cond(types: list[int], frames: int = 100, energy: list[float] | None = None) -> PieceConditioning:
    s = len(types)
    starts = [i * frames / RATE / s for i in range(s)]  # equal sections
    ends = starts[1:] + [frames / RATE]
    layout = frame_layout(starts, ends, 2.0, frames, RATE)
    return PieceConditioning(
        text=F.normalize(torch.randn(1, 256, generator=torch.Generator().manual_seed(1)), dim=-1),
        key=torch.tensor([2]),
        mode=torch.tensor([1]),
        tempo_bpm=torch.tensor([120.0]),
        section_types=torch.tensor([types]),
        section_energy=torch.tensor([energy if energy is not None else [0.5] * s]),
        frame_sections=layout.frame_sections[None],
        section_position=layout.section_position[None],
        bar_position=layout.bar_position[None],
    )


def test_frame_layout_places_each_frame_in_its_section() -> None:
    starts, ends = [0.0, 3.3, 10.0], [3.3, 10.0, 12.05]
    layout = frame_layout(starts, ends, 2.0, semantic_frames(12.05, RATE), RATE)
    assert layout.frame_sections.dtype == torch.int64 and len(layout.frame_sections) == 151
    for t, s in enumerate(layout.frame_sections.tolist()):
        assert starts[s] <= t / RATE < ends[s]
    assert layout.frame_sections.tolist() == sorted(layout.frame_sections.tolist())
    assert 0 <= float(layout.section_position.min()) and float(layout.section_position.max()) < 1
    assert 0 <= float(layout.bar_position.min()) and float(layout.bar_position.max()) < 1
    assert layout.bar_position[25].item() == pytest.approx(0.0)  # frame 25 = 2.0 s, a bar line


def test_repeated_types_share_a_section_embedding_whatever_their_energy(model: SemanticTransformer) -> None:
    emb = model.section_embeddings(_cond([0, 3, 1, 3], energy=[0.1, 0.5, 0.2, 1.0]))[0]
    assert emb.shape == (4, 256)
    assert torch.equal(emb[1], emb[3])
    assert not torch.allclose(emb[1], emb[2])


def test_teacher_forcing_is_causal_and_trainable(model: SemanticTransformer) -> None:
    cond = _cond([0, 3, 1])
    tokens = torch.randint(0, 512, (1, 100), generator=torch.Generator().manual_seed(0))
    logits = model(tokens, cond)
    assert logits.shape == (1, 100, 512)
    changed = tokens.clone()
    changed[0, 50] = (changed[0, 50] + 1) % 512
    again = model(changed, cond)
    assert torch.allclose(again[:, :51], logits[:, :51], atol=1e-5)  # token 50 feeds step 51 on
    assert not torch.allclose(again[:, 51:], logits[:, 51:])
    model.train()
    F.cross_entropy(model(tokens, cond).flatten(0, 1), tokens.flatten()).backward()
    model.eval()
    assert model.section_type.weight.grad is not None and model.head.weight.grad is not None
    model.zero_grad()


def test_padding_sections_are_masked_out(model: SemanticTransformer) -> None:
    cond = _cond([0, 3])
    padded = replace(
        cond,
        section_types=torch.tensor([[0, 3, 6]]),
        section_energy=torch.tensor([[0.5, 0.5, 0.9]]),
        section_mask=torch.tensor([[True, True, False]]),
    )
    tokens = torch.randint(0, 512, (1, 100), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model(tokens, padded), model(tokens, cond), atol=1e-5)


def test_generate_matches_the_full_pass_and_is_seeded(model: SemanticTransformer) -> None:
    cond = _cond([0, 3, 1, 3], frames=120)
    greedy = model.generate(cond, torch.Generator().manual_seed(0), sampled(0.0, 0))
    assert greedy.shape == (120,) and greedy.dtype == torch.int64
    with torch.no_grad():
        assert torch.equal(model(greedy[None], cond)[0].argmax(-1), greedy)

    a = model.generate(cond, torch.Generator().manual_seed(4), sampled(1.0, 50))
    b = model.generate(cond, torch.Generator().manual_seed(4), sampled(1.0, 50))
    c = model.generate(cond, torch.Generator().manual_seed(5), sampled(1.0, 50))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= int(a.min()) and int(a.max()) < 512


def test_repeat_sources_pair_each_repeat_with_its_first_occurrence() -> None:
    sections = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2, 3])  # section 2 repeats 0, 3 repeats 1
    sources = repeat_sources(sections, [0, 1, 0, 1])  # a first occurrence names itself
    assert sources.tolist() == [-1, -1, -1, -1, -1, 0, 1, -1, -1, 2]  # past the first's end: new material
    assert repeat_sources(sections, [-1, -1, -1, -1]).tolist() == [-1] * 10


def test_a_repeat_copies_its_first_occurrence_as_often_as_asked(model: SemanticTransformer) -> None:
    cond = _cond([0, 3, 1, 3], frames=200)  # the second chorus (section 3) repeats section 1
    sources = repeat_sources(cond.frame_sections[0], [0, 1, 2, 1])
    again = sources >= 0
    assert int(again.sum()) == 50

    def share_copied(copy: float, seed: int = 3) -> float:
        tokens = model.generate(cond, torch.Generator().manual_seed(seed), sampled(1.0, 50, repeat_copy=copy), sources)
        return float((tokens[again] == tokens[sources[again]]).float().mean())

    assert share_copied(1.0) == 1.0
    assert 0.5 <= share_copied(0.7) < 1.0
    assert share_copied(0.0) < 0.3  # an untrained model's own repeats are near chance
    # Up to the first repeat the piece is the same whatever the share copied.
    copied, drawn = (model.generate(cond, torch.Generator().manual_seed(3), sampled(1.0, 50, repeat_copy=copy),
                                    sources)
                     for copy in (1.0, 0.0))
    first = int(torch.nonzero(again)[0])
    assert torch.equal(copied[:first], drawn[:first]) and not torch.equal(copied, drawn)
    with pytest.raises(ValueError, match="earlier than each frame"):
        model.generate(cond, torch.Generator(), sampled(1.0, 50, repeat_copy=1.0), torch.arange(200))
    with pytest.raises(ValueError, match="repeat_copy"):
        sampled(1.0, 50, repeat_copy=1.5)


def test_the_drums_flag_starts_silent_and_then_steers_every_step() -> None:
    torch.manual_seed(0)
    config = SemanticConfig(transformer=TransformerConfig(dim=32, layers=1, heads=4, max_len=128))
    plain = SemanticTransformer(config).eval()
    hearing = SemanticTransformer(replace(config, drums_input=True)).eval()
    hearing.load_state_dict(plain.state_dict(), strict=False)
    cond = _cond([0, 1], frames=40)
    tokens = torch.randint(0, 512, (1, 40), generator=torch.Generator().manual_seed(2))
    unwanted = replace(cond, drums=torch.tensor([2]))
    with torch.no_grad():
        torch.testing.assert_close(hearing(tokens, unwanted), plain(tokens, cond))  # zero-initialised
        hearing.drums.weight.normal_()
        assert not torch.allclose(hearing(tokens, unwanted), hearing(tokens, replace(cond, drums=torch.tensor([1]))))
        torch.testing.assert_close(plain(tokens, unwanted), plain(tokens, cond))  # a model without it ignores it


def test_sampling_weighs_tokens_by_the_drums_asked_for() -> None:
    """The evidence row of the asked Drums value and the plan's mode is added
    to every step's logits: tokens the corpus finds only without drums in
    minor songs are all a minor "no drums" piece gets; an unsaid piece
    samples as before."""
    torch.manual_seed(0)
    model = SemanticTransformer(SemanticConfig(transformer=TransformerConfig(dim=32, layers=1, heads=4, max_len=128),
                                               drums_input=True)).eval()
    drumless = torch.arange(512) < 8
    model.drums_evidence[2, 1] = torch.where(drumless, 0.0, -1e4)  # log p(no drums | token, minor)
    cond = _cond([0, 1], frames=40)
    asked_away = model.generate(replace(cond, drums=torch.tensor([2])), torch.Generator().manual_seed(1),
                                sampled(1.0, 0))
    assert bool(drumless[asked_away].all())
    unsaid = model.generate(replace(cond, drums=torch.tensor([0])), torch.Generator().manual_seed(1), sampled(1.0, 0))
    assert not bool(drumless[unsaid].all())
    major = model.generate(replace(cond, drums=torch.tensor([2]), mode=torch.tensor([0])),
                           torch.Generator().manual_seed(1), sampled(1.0, 0))
    assert not bool(drumless[major].all())  # that row was for minor pieces only


def test_the_drums_weight_sharpens_the_evidence() -> None:
    """Weight 0 samples as if the prompt said nothing of drums; above 1 the
    evidence counts for more than the context: with a mild preference
    (drumless tokens twice as likely in a "no drums" piece as the others)
    the share of drumless tokens grows with the weight."""
    torch.manual_seed(0)
    model = SemanticTransformer(SemanticConfig(transformer=TransformerConfig(dim=32, layers=1, heads=4, max_len=256),
                                               drums_input=True)).eval()
    drumless = torch.arange(512) < 8
    model.drums_evidence[2, 1] = torch.where(drumless, math.log(2 / 3), math.log(1 / 3))
    cond = _cond([0, 1], frames=200)
    away = replace(cond, drums=torch.tensor([2]))

    def tokens(c: PieceConditioning, weight: float = 1.0) -> torch.Tensor:
        return model.generate(c, torch.Generator().manual_seed(1), sampled(1.0, 0, drums_weight=weight))

    assert torch.equal(tokens(away, 0.0), tokens(replace(cond, drums=torch.tensor([0]))))
    shares = [float(drumless[tokens(away, w)].float().mean()) for w in (0.0, 1.0, 8.0)]
    assert shares[0] < shares[1] < shares[2] and shares[2] > 0.5, shares


def test_the_drums_floor_keeps_only_tokens_heard_with_the_asked_drums() -> None:
    """With a floor of 1/2, a "no drums" piece draws only tokens the corpus
    has more often without drums than with them, however mild the evidence;
    a floor no token reaches leaves sampling as the evidence alone makes it."""
    torch.manual_seed(0)
    model = SemanticTransformer(SemanticConfig(transformer=TransformerConfig(dim=32, layers=1, heads=4, max_len=128),
                                               drums_input=True)).eval()
    drumless = torch.arange(512) < 8
    model.drums_evidence[2, 1] = torch.where(drumless, math.log(0.6), math.log(0.4))
    away = replace(_cond([0, 1], frames=60), drums=torch.tensor([2]))

    def tokens(floor: float) -> torch.Tensor:
        return model.generate(away, torch.Generator().manual_seed(1), sampled(1.0, 0, drums_floor=floor))

    assert bool(drumless[tokens(0.5)].all())
    assert not bool(drumless[tokens(0.0)].all())
    assert torch.equal(tokens(0.9), tokens(0.0))


def test_a_sections_own_drums_steer_its_frames_only() -> None:
    """Per-frame drums: the verse asks none, the chorus asks drums; the verse's
    tokens are all drumless, the chorus's are not, and a piece whose every
    section says what the piece says samples exactly as the piece alone."""
    torch.manual_seed(0)
    model = SemanticTransformer(SemanticConfig(transformer=TransformerConfig(dim=32, layers=1, heads=4, max_len=128),
                                               drums_input=True)).eval()
    drumless = torch.arange(512) < 8
    model.drums_evidence[2, 1] = torch.where(drumless, 0.0, -1e4)
    model.drums_evidence[1, 1] = torch.where(drumless, -1e4, 0.0)
    cond = _cond([1, 3], frames=60)
    per_section = torch.tensor([2, 1])[cond.frame_sections]
    tokens = model.generate(replace(cond, drums=torch.tensor([0]), frame_drums=per_section),
                            torch.Generator().manual_seed(1), sampled(1.0, 0))
    verse = cond.frame_sections[0] == 0
    assert bool(drumless[tokens[verse]].all()) and not bool(drumless[tokens[~verse]].any())
    piece = replace(cond, drums=torch.tensor([2]))
    uniform = replace(piece, frame_drums=torch.full_like(cond.frame_sections, 2))
    assert torch.equal(model.generate(piece, torch.Generator().manual_seed(1), sampled(1.0, 0)),
                       model.generate(uniform, torch.Generator().manual_seed(1), sampled(1.0, 0)))


def test_a_sections_own_words_give_it_its_own_embedding(model: SemanticTransformer) -> None:
    """Sections with their own text get their own vector; repeats with the
    same words stay identical, and sections without words keep the piece's."""
    cond = _cond([1, 3, 1, 3])
    quiet, loud = F.normalize(torch.randn(2, 256, generator=torch.Generator().manual_seed(5)), dim=-1)
    texts = torch.stack([quiet, loud, quiet, cond.text[0]])[None]
    own = model.section_embeddings(replace(cond, section_text=texts))[0]
    plain = model.section_embeddings(cond)[0]
    assert torch.equal(own[0], own[2]) and not torch.allclose(own[0], plain[0])
    assert not torch.allclose(own[1], own[3]) and torch.equal(own[3], plain[3])


def test_sampling_keeps_the_planned_key_when_asked() -> None:
    """An untrained model samples tokens of D minor and of Ab major alike;
    with the key kept (the plan is D minor) nearly all are D minor's, and a
    weight of 0 samples exactly as a model without it."""
    torch.manual_seed(0)
    config = SemanticConfig(transformer=TransformerConfig(dim=32, layers=1, heads=4, max_len=256))
    keeping = SemanticTransformer(replace(config, key_feedback=True)).eval()
    plain = SemanticTransformer(config).eval()
    plain.load_state_dict(keeping.state_dict(), strict=False)
    d_minor, ab_major = torch.full((12,), 0.1), torch.full((12,), 0.1)
    d_minor[[2, 5, 9]], ab_major[[8, 0, 3]] = 1.0, 1.0
    in_d = torch.arange(512) % 2 == 0
    keeping.token_chroma.copy_(torch.where(in_d[:, None], d_minor, ab_major))
    keeping.key_profiles[1] = torch.roll(d_minor, -2)  # minor, from C
    cond = _cond([0, 1], frames=200)  # D minor
    kept = keeping.generate(cond, torch.Generator().manual_seed(1), sampled(1.0, 0, key_weight=30.0))
    free = keeping.generate(cond, torch.Generator().manual_seed(1), sampled(1.0, 0))
    assert float(in_d[kept].float().mean()) > 0.9
    assert 0.3 < float(in_d[free].float().mean()) < 0.7
    assert torch.equal(free, plain.generate(cond, torch.Generator().manual_seed(1), sampled(1.0, 0)))
    unknown = replace(cond, mode=torch.tensor([3]))  # a mode no training song had: no profile, nothing kept
    assert torch.equal(keeping.generate(unknown, torch.Generator().manual_seed(1), sampled(1.0, 0, key_weight=30.0)),
                       plain.generate(unknown, torch.Generator().manual_seed(1), sampled(1.0, 0)))
