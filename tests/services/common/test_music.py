from __future__ import annotations

import pytest

from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES, key_index, spell_key


def test_key_index_treats_enharmonics_alike() -> None:
    assert key_index("C#") == key_index("Db") == 1
    assert key_index("Bb") == key_index("A#") == KEYS.index("Bb")
    assert key_index("Cb") == key_index("B") == 11
    assert [key_index(k) for k in KEYS] == list(range(12))
    with pytest.raises(ValueError, match="unknown key"):
        key_index("H")


def test_vocabularies() -> None:
    assert SECTION_TYPES == ("intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro")
    assert len(KEYS) == 12 and len(set(KEYS)) == 12
    assert MODES == ("major", "minor", "dorian", "mixolydian")


@pytest.mark.parametrize(("note", "acc", "spelled"), [("b", "♭", "Bb"), ("f", " sharp", "F#"), ("E", "-flat", "Eb"),
                                                      ("a", None, "A")])
def test_spell_key_writes_the_canonical_accidental(note: str, acc: str | None, spelled: str) -> None:
    assert spell_key(note, acc) == spelled
