from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hiermusic.corpus import captions
from hiermusic.corpus.arranger import CAPTION_STREAM, arrange
from hiermusic.corpus.captions import MOOD_WORDS, caption
from hiermusic.corpus.song_spec import SongSpec, compose_spec
from hiermusic.services.semantic.prompt import parse_prompt

SEEDS = range(200)


@pytest.fixture(scope="module")
def written() -> list[tuple[SongSpec, str]]:
    out = []
    for seed in SEEDS:
        spec = compose_spec(seed)
        out.append((spec, caption(spec, np.random.default_rng([seed, CAPTION_STREAM]))))
    return out


def test_captions_are_deterministic_and_the_labels_carry_them(written):
    spec, text = written[3]
    assert caption(spec, np.random.default_rng([spec.seed, CAPTION_STREAM])) == text
    assert arrange(spec)[1].caption == text
    # Another stream of the same song words it differently (augmentation for the text side).
    others = {caption(spec, np.random.default_rng([spec.seed, k])) for k in range(2, 12)}
    assert len(others) >= 8


def test_wording_varies_in_shape_length_and_synonyms(written):
    texts = [t for _, t in written]
    assert len(set(texts)) >= 0.97 * len(texts)
    assert len({t.split()[0].lower() for t in texts}) >= 25
    words = [len(t.split()) for t in texts]
    assert sum(w <= 5 for w in words) >= 10 and sum(w >= 20 for w in words) >= 30
    assert any(t.endswith(".") for t in texts) and any(not t.endswith(".") for t in texts)
    for mood, synonyms in MOOD_WORDS.items():
        used = {w for spec, t in written if spec.mood == mood for w in synonyms if w in t.lower()}
        assert len(used) >= 4, (mood, used)


def test_every_template_is_used(monkeypatch):
    used: Counter[str] = Counter()

    def recording(template):
        def write(words, rng):
            used[template.__name__] += 1
            return template(words, rng)
        return write

    monkeypatch.setattr(captions, "TEMPLATES", tuple(recording(t) for t in captions.TEMPLATES))
    for seed in SEEDS:
        caption(compose_spec(seed), np.random.default_rng([seed, CAPTION_STREAM]))
    assert len(used) == len(captions.TEMPLATES) and min(used.values()) >= 10


def test_tempo_and_key_are_stated_sometimes_and_then_exactly(written):
    stated = Counter()
    for spec, text in written:
        said = parse_prompt(text)
        if said.tempo_bpm is not None:
            assert said.tempo_bpm == spec.tempo_bpm, text
            stated["tempo"] += 1
        if said.key is not None:
            assert said.key == spec.key and said.mode == spec.mode, text
            stated["key"] += 1
        if said.mode is not None:
            assert said.mode == spec.mode, text
            stated["mode"] += 1
    n = len(written)
    assert 0.15 * n < stated["tempo"] < 0.6 * n
    assert 0.1 * n < stated["key"] < stated["mode"] < 0.7 * n


# Words that reveal a rule-break in a caption.
RULE_BREAK_CUES = {
    "extended_intro": ("long intro", "extended intro", "slow-building intro"),
    "abrupt_ending": ("abrupt", "sudden"),
    "modal_interchange": ("borrowed chord", "modal interchange"),
    "rhythmic_displacement": ("displace", "off the beat", "off-beat"),
}


def test_what_a_caption_claims_is_true(written):
    for spec, text in written:
        lower = text.lower()
        types = {s.type for s in spec.sections}
        if "no drums" in lower or "no percussion" in lower:
            assert not spec.instruments.drums, text
        elif "drums" in lower:
            assert spec.instruments.drums, text
        for section_type in ("bridge", "solo", "outro", "pre-chorus"):
            if section_type in lower:
                assert section_type in types, text
        assert any(w in lower for w in MOOD_WORDS[spec.mood]), text


def test_rule_breaks_are_mentioned_only_when_labelled_and_often_when_they_are(written):
    mentioned = labelled = 0
    for spec, text in written:
        cued = {b for b, cues in RULE_BREAK_CUES.items() if any(c in text.lower() for c in cues)}
        assert cued <= set(spec.rule_breaks), text
        mentioned += len(cued)
        labelled += len(spec.rule_breaks)
    assert mentioned >= 0.4 * labelled
