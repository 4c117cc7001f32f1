from __future__ import annotations

import pytest
import torch

from hiermusic.services.semantic.key_feedback import KeyKeeper, song_profile, standardised

C_MAJOR = torch.tensor([3.0, 0, 1, 0, 2, 1, 0, 2, 0, 1, 0, 1])  # tonic, scale, triad heavier


def _chroma(*pitch_classes: int) -> torch.Tensor:
    row = torch.full((12,), 0.1)
    row[list(pitch_classes)] = 1.0
    return row


# Tokens: 0 a G major triad, 1 a D major triad, 2 a C major triad, 3 an F# diminished one.
TOKENS = torch.stack([_chroma(7, 11, 2), _chroma(2, 6, 9), _chroma(0, 4, 7), _chroma(6, 9, 0)])


def test_standardised_profiles_have_mean_0_and_deviation_1() -> None:
    z = standardised(torch.rand(3, 12) + 0.5)
    torch.testing.assert_close(z.mean(-1), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(z.std(-1), torch.ones(3), atol=1e-4, rtol=0)


def test_song_profile_turns_the_song_to_c() -> None:
    d_song = song_profile(TOKENS, torch.tensor([1, 1, 1]), key=2)  # D major triads, in D
    torch.testing.assert_close(d_song, _chroma(0, 4, 7))


def test_nothing_sampled_yet_no_bias() -> None:
    keeper = KeyKeeper(TOKENS, C_MAJOR, key=7, weight=3.0, window=4)
    assert torch.equal(keeper.bias(torch.zeros(0, dtype=torch.long)), torch.zeros(4))


def test_a_drift_to_the_dominant_is_pulled_back() -> None:
    """In G major after D major chords only: the G chord gains on the D
    chord, the more the heavier the weight; once back in key the pull eases."""
    keeper = KeyKeeper(TOKENS, C_MAJOR, key=7, weight=3.0, window=4)
    drifted = keeper.bias(torch.tensor([1, 1, 1, 1]))
    assert drifted[0] > 0 > drifted[1]
    stronger = KeyKeeper(TOKENS, C_MAJOR, key=7, weight=6.0, window=4).bias(torch.tensor([1, 1, 1, 1]))
    assert stronger[0] - stronger[1] == pytest.approx(2 * float(drifted[0] - drifted[1]), rel=1e-5)
    back = keeper.bias(torch.tensor([1, 1, 1, 1, 0, 0, 0, 0]))  # only the last 4 frames count
    assert abs(float(back[0] - back[1])) < float(drifted[0] - drifted[1])


def test_bad_shapes_and_windows_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[vocab, 12\]"):
        KeyKeeper(torch.zeros(4, 11), C_MAJOR, 0, 1.0, 4)
    with pytest.raises(ValueError, match="window"):
        KeyKeeper(TOKENS, C_MAJOR, 0, 1.0, 0)
