"""`minilm_planner`: the bundled semantic-level plugin. Prompt -> frozen MiniLM
-> joint text embedding -> planner (tempo, key, mode, sections) -> semantic
transformer (section embeddings and the whole piece's semantic tokens)."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from hiermusic.v1 import contract_pb2, levels_pb2
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.chunk_layout import semantic_frames
from hiermusic.services.common.level import load_or_init, model_info, sampling_settings
from hiermusic.services.common.music import MODES, SECTION_TYPES, key_index
from hiermusic.services.semantic.planner import FormPlan, Planner, PlannerConfig, SectionPlan, bar_seconds, beat_grid
from hiermusic.services.semantic.piece_request import piece_request, section_wording
from hiermusic.services.semantic.plan_request import AskedPlan, drums_value
from hiermusic.services.semantic.sampling import SemanticSampling
from hiermusic.services.semantic.semantic_model import (
    PieceConditioning,
    SemanticConfig,
    SemanticTransformer,
    frame_layout,
    repeat_sources,
)
from hiermusic.services.semantic.text_tower import TextTower, TextTowerConfig, load_text_encoder

__all__ = [
    "MiniLMPlanner", "MiniLMPlannerConfig", "MiniLMPlannerModel", "PlanResult", "SectionPlan", "form_conditioning",
]


@dataclass
class MiniLMPlannerConfig:
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)

    @property
    def token_space(self) -> TokenSpaceConfig:
        return self.semantic.token_space


class MiniLMPlannerModel(nn.Module):
    """Every learned part of the level in one module, so one checkpoint; the
    frozen MiniLM encoder lives outside it (see text_tower)."""

    def __init__(self, config: MiniLMPlannerConfig) -> None:
        super().__init__()
        e = config.token_space.embedding_dim
        self.text = TextTower(config.text, e)
        self.planner = Planner(config.planner, e)
        self.semantic = SemanticTransformer(config.semantic)


@dataclass
class PlanResult:
    sections: list[SectionPlan]
    tempo_bpm: float
    key: str
    mode: str
    text_embedding: np.ndarray  # float32 [E]
    section_embeddings: np.ndarray  # float32 [S, E]
    semantic_tokens: np.ndarray  # int64 [T], T = ceil(duration_s * semantic_rate)
    frame_sections: np.ndarray  # int64 [T], section of each frame (frame t at t / semantic_rate)
    beats: np.ndarray  # float32 [b], seconds of each beat at the planned tempo
    downbeats: np.ndarray  # float32 [d], seconds of each bar's first beat
    drums: int  # levels_pb2.Drums, as the prompt asked
    prompt: str = ""  # the text the plan was made from
    duration_s: float = 0.0  # the piece's, as planned (a plan's sections may set it)
    extended_intro: bool = False
    abrupt_ending: bool = False


class MiniLMPlanner:
    name: ClassVar[str] = "minilm_planner"
    level: ClassVar[str] = "semantic"

    def __init__(self, checkpoint: Path | None, device: torch.device,
                 sampling: Mapping[str, Any] | None = None) -> None:
        """`sampling`: fields of SemanticSampling over the card's."""
        self.device = device
        self.loaded = load_or_init(self.name, self.level, MiniLMPlannerConfig, MiniLMPlannerModel, checkpoint, device)
        self.sampling = sampling_settings(SemanticSampling, self.loaded.card, sampling or {})
        load_text_encoder(str(device))  # now, so the first request does not pay for it
        self.model: MiniLMPlannerModel = self.loaded.module  # type: ignore[assignment]
        self.config: MiniLMPlannerConfig = self.loaded.config

    @property
    def token_space(self) -> TokenSpaceConfig:
        return self.config.token_space

    def info(self) -> contract_pb2.ModelInfo:
        return model_info(self.level, self.name, self.loaded, self.token_space, self.device)

    def plan(self, prompt: str, duration_s: float, seed: int, temperature: float, top_k: int,
             asked: AskedPlan | None = None) -> PlanResult:
        """The plan of one piece; the same arguments give the same plan.
        temperature/top_k of 0 mean the service's (self.sampling); `asked`: a
        plan the request carries (duration_s 0: its duration, or its
        sections' total)."""
        form, blocks = self.plan_parts(prompt, duration_s, seed, temperature, top_k, asked=asked)
        form.semantic_tokens = np.concatenate([form.semantic_tokens, *blocks])
        return form

    @torch.inference_mode()
    def plan_parts(self, prompt: str, duration_s: float, seed: int, temperature: float, top_k: int,
                   block_frames: int = 25, asked: AskedPlan | None = None) -> tuple[PlanResult, Iterator[np.ndarray]]:
        """The plan of `plan` in parts, so that the chunk levels can start on
        the first seconds of a long piece while the rest is still sampled: the
        form (a PlanResult whose semantic_tokens are empty) and the tokens in
        order, int64 blocks of `block_frames` (25: 2 s), sampled as the blocks
        are asked for."""
        request = piece_request(prompt, duration_s, asked)
        if temperature < 0 or top_k < 0:
            raise ValueError(f"temperature and top_k must be >= 0, got {temperature} and {top_k}")
        if block_frames < 1:
            raise ValueError(f"block_frames must be at least 1, got {block_frames}")
        sampling = replace(self.sampling, temperature=temperature or self.sampling.temperature,
                           top_k=top_k or self.sampling.top_k)
        drums = drums_value(request.explicit.drums)
        generator = torch.Generator().manual_seed(seed)

        text = self.model.text.embed([prompt])  # [1, E]
        form = self.model.planner.plan(text[0], request.duration_s, request.explicit, generator,
                                       sampling.temperature, sampling.top_k, form=request.form)
        duration = form.sections[-1].end_s
        cond = form_conditioning(text, form, semantic_frames(duration, self.token_space.semantic_rate),
                                 self.token_space.semantic_rate, drums)
        self._section_words(cond, form, prompt, text[0])
        repeat_from = repeat_sources(cond.frame_sections[0].cpu(), [s.repeat_of for s in form.sections])
        steps = self.model.semantic.tokens_in_order(cond, generator, sampling, repeat_from)
        beats, downbeats = beat_grid(form.tempo_bpm, duration)
        result = PlanResult(
            sections=form.sections,
            tempo_bpm=form.tempo_bpm,
            key=form.key,
            mode=form.mode,
            text_embedding=text[0].float().cpu().numpy(),
            section_embeddings=self.model.semantic.section_embeddings(cond)[0].float().cpu().numpy(),
            semantic_tokens=np.zeros(0, dtype=np.int64),
            frame_sections=cond.frame_sections[0].cpu().numpy().astype(np.int64),
            beats=beats,
            downbeats=downbeats,
            drums=drums,
            prompt=prompt,
            duration_s=duration,
            extended_intro=form.extended_intro,
            abrupt_ending=form.abrupt_ending,
        )
        return result, _blocks(steps, block_frames)

    def _section_words(self, cond: PieceConditioning, form: FormPlan, prompt: str, text: torch.Tensor) -> None:
        """Sections with their own words get their own text embedding and,
        where they ask, their own drums; the rest keep the piece's."""
        described = sorted({s.description for s in form.sections if s.description})
        if described:
            own = dict(zip(described, self.model.text.embed([section_wording(prompt, d) for d in described])))
            cond.section_text = torch.stack([own[s.description] if s.description else text
                                             for s in form.sections])[None]
        if any(s.drums is not None for s in form.sections):
            piece = int(cond.drums[0])
            per_section = torch.tensor([drums_value(s.drums) if s.drums is not None else piece
                                        for s in form.sections], device=cond.frame_sections.device)
            cond.frame_drums = per_section[cond.frame_sections]


def _blocks(steps: Iterator[int], size: int) -> Iterator[np.ndarray]:
    while block := list(itertools.islice(steps, size)):
        yield np.array(block, dtype=np.int64)


def form_conditioning(
    text: torch.Tensor, form: FormPlan, num_frames: int, rate: float, drums: int = levels_pb2.DRUMS_UNSAID
) -> PieceConditioning:
    """What the semantic transformer is conditioned on for one piece (B = 1):
    `text` [1, E], the form laid over `num_frames` frames and the prompt's
    drums (levels_pb2.Drums). Planning and training both build it here, so
    the model trains on what it gets served."""
    layout = frame_layout(
        [s.start_s for s in form.sections],
        [s.end_s for s in form.sections],
        bar_seconds(form.tempo_bpm),
        num_frames,
        rate,
    )
    device = text.device
    borrowed = torch.tensor([s.modal_interchange for s in form.sections], dtype=torch.bool)
    return PieceConditioning(
        text=text,
        key=torch.tensor([key_index(form.key)], device=device),
        mode=torch.tensor([MODES.index(form.mode)], device=device),
        tempo_bpm=torch.tensor([form.tempo_bpm], dtype=torch.float32, device=device),
        section_types=torch.tensor([[SECTION_TYPES.index(s.type) for s in form.sections]], device=device),
        section_energy=torch.tensor([[s.energy for s in form.sections]], dtype=torch.float32, device=device),
        frame_sections=layout.frame_sections[None].to(device),
        section_position=layout.section_position[None].to(device),
        bar_position=layout.bar_position[None].to(device),
        drums=torch.tensor([drums], device=device),
        frame_borrowed=borrowed[layout.frame_sections][None].to(device) if bool(borrowed.any()) else None,
    )
