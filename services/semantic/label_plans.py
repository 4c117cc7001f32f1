"""A corpus song's labels as the plan the semantic level would serve for it,
so every level trains on what it is served:
- `form_of`: the FormPlan the planner would have made (section energies on
  the planner's bins, repeats pointing at the first section of their type);
- `PlanConditioner`: that plan with the text and section embeddings the
  semantic plugin computes for it, as the scheduler holds a served plan;
- `corpus_plans`: every corpus song with its codec tokens and that plan, for
  the chunk levels' trainers."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SectionLabel, SongLabels
from hiermusic.corpus.token_space import check_tokens
from hiermusic.services.common.chunk_layout import PlanArrays
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.semantic.planner import FormPlan, Planner, SectionPlan
from hiermusic.services.semantic.plugin import MiniLMPlanner, drums_value, form_conditioning
from hiermusic.services.semantic.prompt import MODES, SECTION_TYPES, key_index

# What a plan always has but some labels lack (scores, user audio): the
# planner's own choices stand in, so every song of the corpus can train.
DEFAULT_TEMPO_BPM = 120.0
DEFAULT_KEY, DEFAULT_MODE, DEFAULT_TYPE, DEFAULT_ENERGY = "C", "major", "verse", 0.5


def unplannable(labels: SongLabels) -> str | None:
    """Why the labels do not make a whole plan, or None when they do."""
    if labels.tempo_bpm is None or labels.key is None or labels.mode not in MODES:
        return "no tempo, key or mode"
    try:
        key_index(labels.key)
    except ValueError:
        return "a key the planner cannot name"
    if not labels.sections or any(s.type not in SECTION_TYPES for s in labels.sections):
        return "no sections of the planner's types"
    if any(s.bars < 1 or not 0.0 <= s.energy <= 1.0 for s in labels.sections):
        return "sections without bars or energy"
    return None


def plannable(labels: SongLabels) -> SongLabels:
    """The labels with what a plan always has and they may lack filled in by
    defaults: one section over the song when none is labelled, section types
    outside the planner's vocabulary as verses, unknown energy (user audio)
    as mid, and a tempo, key and mode the planner can name."""
    key = labels.key or DEFAULT_KEY
    try:
        key_index(key)
    except ValueError:
        key = DEFAULT_KEY
    sections = labels.sections or [SectionLabel(DEFAULT_TYPE, 0.0, labels.duration_s, 1, DEFAULT_ENERGY)]
    sections = [replace(s, type=s.type if s.type in SECTION_TYPES else DEFAULT_TYPE, bars=max(1, s.bars),
                        energy=s.energy if 0.0 <= s.energy <= 1.0 else DEFAULT_ENERGY) for s in sections]
    return replace(labels, tempo_bpm=labels.tempo_bpm or DEFAULT_TEMPO_BPM, key=key,
                   mode=labels.mode if labels.mode in MODES else DEFAULT_MODE, sections=sections)


def form_of(labels: SongLabels, planner: Planner) -> FormPlan:
    """The plan the planner would have made for this song (whole labels: see
    `unplannable` and `plannable`)."""
    first: dict[str, int] = {}
    sections = [
        SectionPlan(s.type, s.start_s, s.end_s, s.bars,
                    planner.energy_value(int(planner.energy_to_bin(torch.tensor(s.energy)))),
                    first.setdefault(s.type, i))
        for i, s in enumerate(labels.sections)
    ]
    return FormPlan(float(labels.tempo_bpm), labels.key, labels.mode, sections)


class PlanConditioner:
    """A labelled song's plan as the semantic plugin would serve it: its text
    embedding (from the caption) and one embedding per section, from that
    plugin's checkpoint, or from its seeded untrained weights, which are what
    an untrained semantic service sends."""

    def __init__(self, checkpoint: Path | None, space: TokenSpaceConfig, device: torch.device) -> None:
        self.semantic = MiniLMPlanner(checkpoint, device)
        theirs = self.semantic.token_space
        if theirs.embedding_dim != space.embedding_dim:
            raise ValueError(f"semantic plugin {self.semantic.loaded.version} embeds into {theirs.embedding_dim} "
                             f"dims; this model takes {space.embedding_dim}")
        if checkpoint is not None and theirs.semantic_tokenizer_id != space.semantic_tokenizer_id:
            raise ValueError(f"semantic checkpoint {checkpoint} plans {theirs.semantic_tokenizer_id} tokens; "
                             f"the corpus has {space.semantic_tokenizer_id}")

    @property
    def version(self) -> str:
        return self.semantic.loaded.version

    @torch.inference_mode()
    def plans(self, songs: list[SongLabels], semantic: list[np.ndarray]) -> list[PlanArrays]:
        """semantic: each song's tokens int [T']; the plan is laid over them."""
        model, rate = self.semantic.model, self.semantic.token_space.semantic_rate
        text = model.text.embed([labels.caption for labels in songs]) if songs else None  # [N, E]
        out = []
        for i, (labels, tokens) in enumerate(zip(songs, semantic)):
            form = form_of(plannable(labels), model.planner)
            cond = form_conditioning(text[i : i + 1], form, len(tokens), rate)
            out.append(PlanArrays(
                semantic_tokens=tokens.astype(np.int64),
                frame_sections=cond.frame_sections[0].cpu().numpy().astype(np.int64),
                section_embeddings=model.semantic.section_embeddings(cond)[0].float().cpu().numpy(),
                section_energy=np.array([s.energy for s in form.sections], dtype=np.float32),
                text_embedding=text[i].float().cpu().numpy(),
                # The labelled beats, pickups and meter included: what the
                # planner's grid stands for at serving time.
                beats=np.asarray(labels.beats, dtype=np.float32),
                downbeats=np.asarray(labels.downbeats, dtype=np.float32),
                drums=drums_value(labels.drums),
            ))
        return out


def corpus_plans(data_dir: Path, space: TokenSpaceConfig,
                 conditioner: PlanConditioner) -> Iterator[tuple[str, SongLabels, np.ndarray, PlanArrays]]:
    """(split, labels, codec tokens int16 [codebooks, T], plan) of every corpus
    song, its tokens checked against the token space first."""
    for name in shards.corpus_shards(data_dir):
        codes, index = shards.read_tokens(data_dir, name), shards.read_index(data_dir, name)
        by_song = shards.read_semantic(data_dir, name, space.semantic_tokenizer_id)
        semantic = [by_song[labels.song_id] for _, labels in index]
        plans = conditioner.plans([labels for _, labels in index], semantic)
        for (split, labels), tokens, plan in zip(index, semantic, plans):
            song_codes = codes[f"{labels.song_id}/codes"]
            check_tokens(labels, song_codes, tokens, space)
            yield split, labels, song_codes, plan
