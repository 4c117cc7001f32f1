"""The planner: from the joint text embedding, the piece's tempo, key and mode,
and its form, decoded section by section by a small causal transformer until
the requested duration is filled."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hiermusic.services.common.nn import KVCache, Transformer, TransformerConfig, sample
from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES
from hiermusic.services.semantic.prompt import PromptAttributes

BAR_CHOICES = (2, 4, 8, 12, 16)
BEATS_PER_BAR = 4  # 4/4 throughout: bar_s = 240 / tempo


def bar_seconds(tempo_bpm: float) -> float:
    return 60.0 * BEATS_PER_BAR / tempo_bpm


def beat_grid(tempo_bpm: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """float32 seconds of every beat and of every bar's first beat, from 0
    past the end of the piece: the plan's sections start on bar lines from
    0, as the corpus's songs do."""
    beat = 60.0 / tempo_bpm
    beats = np.arange(int(duration_s / beat) + 2) * beat
    return beats.astype(np.float32), beats[::BEATS_PER_BAR].astype(np.float32)


@dataclass
class SectionPlan:
    type: str
    start_s: float
    end_s: float
    bars: int
    energy: float  # 0..1
    repeat_of: int  # index of the first section of this type; its own index on first occurrence
    # As asked (FormRequest's SectionRequest), carried to the levels below.
    description: str = ""
    drums: bool | None = None
    modal_interchange: bool = False
    displacement: bool = False


@dataclass
class FormPlan:
    tempo_bpm: float
    key: str
    mode: str
    sections: list[SectionPlan]
    extended_intro: bool = False  # the intro planned at least 1.5x the other sections' median
    abrupt_ending: bool = False  # no outro; the last section at full energy


def _form_decoder_config() -> TransformerConfig:
    return TransformerConfig(dim=256, layers=2, heads=4, max_len=512, cross_attention=False)


@dataclass
class PlannerConfig:
    hidden: int = 256
    tempo_min: int = 60
    tempo_max: int = 180
    tempo_step: int = 2
    energy_bins: int = 5
    progress_bins: int = 16
    # max_len bounds the sections of one piece: 600 s at 300 bpm in 2-bar sections is 375.
    decoder: TransformerConfig = field(default_factory=_form_decoder_config)

    @property
    def tempo_bins(self) -> int:
        return (self.tempo_max - self.tempo_min) // self.tempo_step + 1


class Planner(nn.Module):
    def __init__(self, config: PlannerConfig, embedding_dim: int) -> None:
        super().__init__()
        self.config = config
        h, d = config.hidden, config.decoder.dim
        self.globals = nn.Sequential(nn.Linear(embedding_dim, h), nn.GELU())
        self.tempo_head = nn.Linear(h, config.tempo_bins)
        self.key_head = nn.Linear(h, len(KEYS))
        self.mode_head = nn.Linear(h, len(MODES))
        # Step input: the previous section (an extra id = start of piece), where
        # the piece stands (share of the duration elapsed, bars left), the text.
        self.prev_type = nn.Embedding(len(SECTION_TYPES) + 1, d)
        self.prev_bars = nn.Embedding(len(BAR_CHOICES) + 1, d)
        self.prev_energy = nn.Embedding(config.energy_bins + 1, d)
        self.progress = nn.Embedding(config.progress_bins, d)
        self.bars_left = nn.Embedding(len(BAR_CHOICES) + 1, d)
        self.text_cond = nn.Linear(embedding_dim, d)
        self.decoder = Transformer(config.decoder)
        self.type_head = nn.Linear(d, len(SECTION_TYPES))
        self.bars_head = nn.Linear(d, len(BAR_CHOICES))
        self.energy_head = nn.Linear(d, config.energy_bins)
        self.register_buffer("bar_edges", torch.tensor(BAR_CHOICES, dtype=torch.float32), persistent=False)

    # -- label conversions, shared by training and inference ------------------
    def tempo_to_bin(self, tempo_bpm: torch.Tensor) -> torch.Tensor:
        c = self.config
        return ((tempo_bpm - c.tempo_min) / c.tempo_step).round().long().clamp(0, c.tempo_bins - 1)

    def bin_to_tempo(self, index: int) -> float:
        return float(self.config.tempo_min + index * self.config.tempo_step)

    def energy_to_bin(self, energy: torch.Tensor) -> torch.Tensor:
        return (energy * (self.config.energy_bins - 1)).round().long().clamp(0, self.config.energy_bins - 1)

    def energy_value(self, index: int) -> float:
        return index / (self.config.energy_bins - 1)

    def bars_to_index(self, bars: torch.Tensor) -> torch.Tensor:
        """Nearest of BAR_CHOICES (the lower on a tie): a cut-short last section
        of a labelled song counts as the choice closest to it."""
        return (bars[..., None].float() - self.bar_edges).abs().argmin(dim=-1)

    # -- model ----------------------------------------------------------------
    def global_logits(self, text: torch.Tensor) -> dict[str, torch.Tensor]:
        g = self.globals(text)  # [B, E] -> [B, H]
        return {"tempo": self.tempo_head(g), "key": self.key_head(g), "mode": self.mode_head(g)}

    def _step_inputs(
        self,
        text: torch.Tensor,  # [B, E]
        prev: torch.Tensor,  # int64 [B, S, 3] previous section's type, bars, energy ids
        start_s: torch.Tensor,  # [B, S] start of the section each step predicts
        duration_s: torch.Tensor,  # [B]
        tempo_bpm: torch.Tensor,  # [B]
    ) -> torch.Tensor:
        progress = (start_s / duration_s[:, None] * self.config.progress_bins).long()
        progress = progress.clamp(0, self.config.progress_bins - 1)
        bar_s = 60.0 * BEATS_PER_BAR / tempo_bpm[:, None]
        bars_left = torch.bucketize((duration_s[:, None] - start_s) / bar_s, self.bar_edges)
        x = self.prev_type(prev[..., 0]) + self.prev_bars(prev[..., 1]) + self.prev_energy(prev[..., 2])
        x = x + self.progress(progress) + self.bars_left(bars_left)
        return x + self.text_cond(text)[:, None]  # [B, S, D]

    def _heads(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"section_type": self.type_head(h), "bars": self.bars_head(h), "energy": self.energy_head(h)}

    def forward(
        self,
        text: torch.Tensor,  # [B, E]
        section_types: torch.Tensor,  # int64 [B, S] index into SECTION_TYPES
        section_bars: torch.Tensor,  # int64 [B, S] index into BAR_CHOICES
        section_energy: torch.Tensor,  # int64 [B, S] energy bin
        start_s: torch.Tensor,  # float [B, S] section start times
        duration_s: torch.Tensor,  # float [B]
        tempo_bpm: torch.Tensor,  # float [B]
    ) -> dict[str, torch.Tensor]:
        """Teacher forcing: logits for tempo/key/mode [B, C] and, per section,
        section_type/bars/energy [B, S, C]. Padding sections after a piece's
        last only see the real ones (causal), so the trainer just masks the loss."""
        ids = torch.stack([section_types, section_bars, section_energy], dim=-1)  # [B, S, 3]
        first = torch.tensor(self._piece_start(), device=ids.device).expand(ids.shape[0], 1, 3)
        prev = torch.cat([first, ids[:, :-1]], dim=1)
        x = self._step_inputs(text, prev, start_s, duration_s, tempo_bpm)
        return {**self.global_logits(text), **self._heads(self.decoder(x))}

    @torch.no_grad()
    def plan(
        self,
        text: torch.Tensor,  # [E]
        duration_s: float,
        explicit: PromptAttributes,
        generator: torch.Generator,
        temperature: float,
        top_k: int,
    ) -> FormPlan:
        """Samples tempo, key, mode (what the prompt states overrides them) and
        sections until the duration is filled. A tail shorter than a bar is
        not worth a section: the last section is stretched or cut to end at
        `duration_s` exactly, its bars scaled to match (at least 1)."""
        text = text[None]
        logits = self.global_logits(text)
        tempo_bin, key_id, mode_id = (
            self._draw(logits[name][0], temperature, top_k, generator) for name in ("tempo", "key", "mode")
        )
        tempo = explicit.tempo_bpm if explicit.tempo_bpm is not None else self.bin_to_tempo(tempo_bin)
        key = explicit.key if explicit.key is not None else KEYS[key_id]
        mode = explicit.mode if explicit.mode is not None else MODES[mode_id]

        bar_s = bar_seconds(tempo)
        duration = torch.tensor([duration_s], device=text.device)
        tempo_t = torch.tensor([tempo], device=text.device)
        prev = self._piece_start()
        cache = KVCache()
        raw: list[tuple[int, int, int]] = []  # (type, bars, energy) ids
        bars_so_far = 0
        while not raw or duration_s - bars_so_far * bar_s >= bar_s:
            start = torch.tensor([[bars_so_far * bar_s]], device=text.device)
            x = self._step_inputs(text, torch.tensor([[prev]], device=text.device), start, duration, tempo_t)
            heads = self._heads(self.decoder(x, cache=cache)[0, -1])
            type_id, bars_id, energy_id = (
                self._draw(heads[name], temperature, top_k, generator) for name in ("section_type", "bars", "energy")
            )
            prev = (type_id, bars_id, energy_id)
            raw.append(prev)
            bars_so_far += BAR_CHOICES[bars_id]
        return FormPlan(tempo, key, mode, self._sections(raw, bar_s, duration_s))

    def _piece_start(self) -> tuple[int, int, int]:
        """The extra ids that stand for "no previous section"."""
        return len(SECTION_TYPES), len(BAR_CHOICES), self.config.energy_bins

    @staticmethod
    def _draw(logits: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator) -> int:
        return int(sample(logits, temperature, top_k, generator))

    def _sections(self, raw: list[tuple[int, int, int]], bar_s: float, duration_s: float) -> list[SectionPlan]:
        sections: list[SectionPlan] = []
        first_of: dict[str, int] = {}
        bars_before = 0
        for i, (type_id, bars_id, energy_id) in enumerate(raw):
            name, bars = SECTION_TYPES[type_id], BAR_CHOICES[bars_id]
            # Times come from whole bar counts: no drift, and each end equals the next start.
            start = bars_before * bar_s
            end = (bars_before + bars) * bar_s
            bars_before += bars
            if i == len(raw) - 1:
                bars = max(1, round(bars * (duration_s - start) / (end - start)))
                end = duration_s
            repeat_of = first_of.setdefault(name, i)
            sections.append(SectionPlan(name, start, end, bars, self.energy_value(energy_id), repeat_of))
        return sections
