from __future__ import annotations

from dataclasses import dataclass

import torch

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.services.semantic.caption_wordings import Captions, caption_variants
from hiermusic.services.semantic.text_tower import encode_sentences

CPU = torch.device("cpu")
USER = SongLabels("user-0000000", "user", "a field recording of rain", 10.0)


@dataclass
class Item:
    labels: SongLabels


def test_composed_songs_get_reworded_captions_with_the_stored_one_first() -> None:
    _, labels = arrange(compose_spec(3))
    variants = caption_variants(labels, 6)
    assert variants[0] == labels.caption and 3 <= len(variants) <= 6 and len(set(variants)) == len(variants)
    assert caption_variants(labels, 1) == [labels.caption]
    assert caption_variants(USER, 6) == [USER.caption]


def test_training_songs_pick_among_their_own_wordings_and_the_others_keep_their_stored_caption() -> None:
    torch.set_num_threads(1)
    _, composed = arrange(compose_spec(3))
    lines: list[str] = []
    captions = Captions({"train": [Item(USER), Item(composed)], "valid": [Item(composed)], "test": []}, 4, CPU,
                        lines.append)
    wordings = len(caption_variants(composed, 4))
    assert captions.counts.tolist() == [1, wordings] and len(captions.train) == 1 + wordings
    assert lines == [f"{1 + wordings} training captions for 2 songs"]
    rows = {tuple(row.tolist()): i for i, row in enumerate(captions.train)}
    generator = torch.Generator().manual_seed(0)
    picked = {rows[tuple(row.tolist())] for row in captions.pick(torch.tensor([1] * 32), generator)}
    assert picked == set(range(1, 1 + wordings))  # every wording of the composed song, no other
    assert torch.equal(captions.pick(torch.tensor([0]), generator)[0], captions.train[0])
    # Validation matches the stored caption; a split without songs has none.
    assert list(captions.stored) == ["valid"]
    assert torch.equal(captions.stored["valid"], encode_sentences([composed.caption], CPU))
