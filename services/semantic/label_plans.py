"""A corpus song's labels as the plan the semantic level would serve for it,
so every level trains on what it is served:
- `form_of`: the FormPlan the planner would have made (section energies on
  the planner's bins, repeats pointing at the first section of their type);
- `SemanticPlanConditioner`: that plan with the text and section embeddings the
  semantic plugin computes for it, as the scheduler holds a served plan. The
  command line hands it to the chunk levels' trainers
  (corpus.chunked_songs.PlanConditioner), which never import this level."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.plannable import plannable
from hiermusic.services.common.chunk_layout import PlanArrays
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.semantic.planner import FormPlan, Planner, SectionPlan
from hiermusic.services.semantic.plan_request import drums_value
from hiermusic.services.semantic.plugin import MiniLMPlanner, form_conditioning


def form_of(labels: SongLabels, planner: Planner) -> FormPlan:
    """The plan the planner would have made for this song (whole labels: see
    corpus.plannable)."""
    first: dict[str, int] = {}
    sections = [
        SectionPlan(s.type, s.start_s, s.end_s, s.bars,
                    planner.energy_value(int(planner.energy_to_bin(torch.tensor(s.energy)))),
                    first.setdefault(s.type, i))
        for i, s in enumerate(labels.sections)
    ]
    return FormPlan(float(labels.tempo_bpm), labels.key, labels.mode, sections)


class SemanticPlanConditioner:
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
                # The returns, for the acoustic level's thematic memory.
                section_start_s=np.array([s.start_s for s in form.sections], dtype=np.float64),
                section_end_s=np.array([s.end_s for s in form.sections], dtype=np.float64),
                section_repeat_of=np.array([s.repeat_of for s in form.sections], dtype=np.int64),
            ))
        return out

