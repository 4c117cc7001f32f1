from __future__ import annotations

import numpy as np
import pytest

from hiermusic.corpus.semantic_features import FEATURE_DIM, FEATURE_NAMES, frame_features
from hiermusic.corpus.semantic_tokenizer import SemanticTokenizer

SR = 24000


def _tone(freqs: list[float], seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (sum(np.sin(2 * np.pi * f * t) for f in freqs) * 0.2).astype(np.float32)


def test_features_have_the_semantic_rate_and_hear_harmony():
    c_major = _tone([261.63, 329.63, 392.0], 2.0)
    features = frame_features(c_major)
    assert features.shape == (25, FEATURE_DIM) and np.isfinite(features).all()
    chroma = features[5:20, :12].mean(axis=0)
    assert set(np.argsort(chroma)[-3:]) == {0, 4, 7}  # C, E, G
    assert frame_features(_tone([440.0], 1.2)).shape[0] == 15  # ceil(1.2 * 12.5)
    onset = FEATURE_NAMES.index("onset_max")
    clicks = np.zeros(2 * SR, dtype=np.float32)
    clicks[::SR // 2] = 1.0
    assert frame_features(clicks)[:, onset].max() > frame_features(c_major)[5:20, onset].max()


def test_tokenizer_separates_different_sounds_and_round_trips(tmp_path):
    sounds = [_tone([f], 4.0) for f in (110.0, 220.0 * 1.5, 880.0)] + [
        np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32) * 0.1
    ]
    features = [frame_features(s) for s in sounds]
    tokenizer = SemanticTokenizer.fit(np.concatenate(features), songs=4, clusters=8, seed=0)
    assert tokenizer.tokenizer_id.startswith("feature-kmeans-8-")
    main_tokens = [np.bincount(tokenizer.assign(f[3:-3])).argmax() for f in features]
    assert len(set(main_tokens)) == 4, main_tokens  # each sound gets its own token
    tokenizer.save(tmp_path / "tok.safetensors")
    loaded = SemanticTokenizer.load(tmp_path / "tok.safetensors")
    assert loaded.tokenizer_id == tokenizer.tokenizer_id
    assert np.array_equal(loaded.tokenize(sounds[0]), tokenizer.tokenize(sounds[0]))
    # Each token's chroma, in the features' own units: the 330 Hz tone's is E's.
    chroma = loaded.centroid_chroma()
    assert chroma.shape == (8, 12)
    assert int(chroma[main_tokens[1]].argmax()) == 4


def test_fit_refuses_too_few_frames():
    with pytest.raises(ValueError, match="cannot fit 512 clusters"):
        SemanticTokenizer.fit(np.zeros((10, FEATURE_DIM), dtype=np.float32), songs=1)
