"""The planner: from the joint text embedding, the piece's tempo, key and mode,
and its form, decoded section by section by a small causal transformer until
the requested duration is filled, honouring the form a prompt or plan asks
(form_rules.py for an open form, form_fit.py for the bars)."""
from __future__ import annotations

import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hiermusic.services.common.nn import KVCache, Transformer, TransformerConfig, sample
from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES
from hiermusic.services.semantic.form_fit import Draft, fit_bars, intro_is_extended, section_seconds
from hiermusic.services.semantic.form_rules import (
    ABRUPT_ENERGY,
    allowed_types,
    check_asked,
    fit_open,
    least_sections,
    repair,
    reserve,
    room_error,
    steered_bars,
    steered_types,
    to_come,
    unmet,
)
from hiermusic.services.semantic.form_request import FormError, FormRequest, SectionRequest
from hiermusic.services.semantic.prompt import PromptAttributes

BAR_CHOICES = (2, 4, 8, 12, 16)
BEATS_PER_BAR = 4  # 4/4 throughout: bar_s = 240 / tempo
# Sections an open form may sample, all tries together, before what it
# misses is repaired: a few ms on a CPU, many tries for a short piece, one
# or two for a long one.
RETRY_STEPS = 32


def bar_seconds(tempo_bpm: float) -> float:
    return 60.0 * BEATS_PER_BAR / tempo_bpm


def beat_grid(tempo_bpm: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """float32 seconds of every beat and of every bar's first beat, from 0
    past the end of the piece: the plan's sections start on bar lines from
    0, as the corpus's songs do."""
    beat = 60.0 / tempo_bpm
    # Two bar lines at least: a piece shorter than a bar still has a grid (a
    # 1.5 s piece at 60 bpm had one downbeat, and the scheduler refused it).
    beats = np.arange(max(int(duration_s / beat) + 2, BEATS_PER_BAR + 1)) * beat
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
        duration_s: float | None,
        explicit: PromptAttributes,
        generator: torch.Generator,
        temperature: float,
        top_k: int,
        form: FormRequest = FormRequest(),
    ) -> FormPlan:
        """Samples tempo, key, mode (what the prompt states overrides them) and
        sections that honour `form` (form_rules says how) and fill `duration_s`;
        None: the piece is as long as the stated sections' bars. A tail
        shorter than a bar is not worth a section: the last section is
        stretched or cut to end at the duration exactly, its bars scaled to
        match (at least 1). FormError names what cannot be honoured."""
        check_asked(form)
        if duration_s is None:
            if not form.sections:
                raise FormError("no duration_s is given and the form asked states no sections")
            if (i := next((i for i, s in enumerate(form.sections) if s.bars is None), None)) is not None:
                raise FormError(f"sections[{i}] ({form.sections[i].type}) has no bars and no duration_s is given")
        text = text[None]
        sampling = _Sampling(generator, temperature, top_k)
        logits = self.global_logits(text)
        tempo_bin, key_id, mode_id = (sampling.draw(logits[name][0]) for name in ("tempo", "key", "mode"))
        key = explicit.key if explicit.key is not None else KEYS[key_id]
        mode = explicit.mode if explicit.mode is not None else MODES[mode_id]
        tempo = explicit.tempo_bpm
        if tempo is None:  # the sampled one, or another of the model's likely ones where the form fits only there
            ranked = [tempo_bin, *logits["tempo"][0].argsort(descending=True, stable=True).tolist()[:top_k or None]]
            tempo = next((t for t in map(self.bin_to_tempo, ranked) if _room(form, t, duration_s) is None),
                         self.bin_to_tempo(tempo_bin))
        if error := _room(form, tempo, duration_s):
            raise FormError(error)
        bar_s = bar_seconds(tempo)
        duration = duration_s if duration_s is not None else _stated_bars(form) * bar_s
        piece = _Piece(text, torch.tensor([duration], device=text.device), torch.tensor([tempo], device=text.device),
                       duration, tempo, bar_s)
        extended = form.intro == "long"
        if form.sections:
            drafts = self._decode_asked([Draft.asked(s) for s in form.sections], piece, sampling)
            bars = fit_bars(drafts, tempo, bar_s, duration, extended)
        else:
            drafts, bars = self._plan_open(form, piece, sampling)
        return FormPlan(tempo, key, mode, self._sections(drafts, bars, bar_s, duration, form),
                        extended_intro=extended, abrupt_ending=form.ending == "abrupt")

    def _plan_open(self, form: FormRequest, piece: _Piece, sampling: _Sampling) -> tuple[list[Draft], list[int]]:
        """Sampled as the model will, within the counts; where that misses
        what `form` asks, steered towards it while another try fits in
        RETRY_STEPS; then repaired."""
        steps = 0
        steer = False
        # Sampled sections are 2 bars or more (the last 1): fewer bars than that and only a repair fits them.
        hopeless = piece.duration_s / piece.bar_s < 2 * least_sections(form) - 1
        while True:
            drafts, filled = self._sample_open(form, piece, sampling, steer)
            steps += len(drafts)
            problems = unmet([d.type for d in drafts], form, piece.duration_s)
            if not problems or hopeless or steer and steps + len(drafts) > RETRY_STEPS:
                break
            steer = bool(to_come(form, []))  # nothing to steer to: the model's own tries
        bars = [d.bars for d in drafts]  # type: ignore[misc]
        if problems:
            drafts = self._fill_added(repair(drafts, form, piece.duration_s), piece, sampling)
        elif filled and (form.intro != "long" or intro_is_extended(section_seconds(bars, piece.bar_s,
                                                                                    piece.duration_s))):
            return drafts, bars  # as sampled: the last section cut to end on time
        return fit_open(drafts, form, piece.tempo_bpm, piece.bar_s, piece.duration_s)

    def _sample_open(self, form: FormRequest, piece: _Piece, sampling: _Sampling,
                     steer: bool) -> tuple[list[Draft], bool]:
        """Sections until the duration is filled, their types among those
        `form` still allows, and with `steer`, their types and bars steered to
        what it asks (form_rules); and whether they fill it (else every type ran out)."""
        prev = self._piece_start()
        cache = KVCache()
        drafts: list[Draft] = []
        types: list[str] = []
        bars_so_far = 0
        while not drafts or piece.duration_s - bars_so_far * piece.bar_s >= piece.bar_s:
            bars_left = piece.duration_s / piece.bar_s - bars_so_far
            room = reserve([d.bars for d in drafts])  # type: ignore[misc]
            allowed = steered_types(form, types, bars_left, room) if steer else allowed_types(form, types)
            if allowed is not None and not allowed:
                return drafts, False
            heads = self._step(prev, bars_so_far, piece, cache)
            type_id = sampling.draw(_only(heads["section_type"], allowed, SECTION_TYPES))
            types.append(SECTION_TYPES[type_id])
            bars = steered_bars(form, types, bars_left, room, BAR_CHOICES) if steer else None
            bars_id = sampling.draw(_only(heads["bars"], bars, BAR_CHOICES))
            prev = (type_id, bars_id, sampling.draw(heads["energy"]))
            drafts.append(Draft(SectionRequest(types[-1]), BAR_CHOICES[bars_id], self.energy_value(prev[2])))
            bars_so_far += BAR_CHOICES[bars_id]
        return drafts, True

    def _fill_added(self, drafts: list[Draft], piece: _Piece, sampling: _Sampling) -> list[Draft]:
        """The bars and energy of the sections a repair added, sampled in one
        teacher-forced pass over the whole form (in place)."""
        added = [i for i, d in enumerate(drafts) if d.bars is None]
        kept = [d for d in drafts if d.bars is not None]
        if not added:
            return drafts
        if not kept:  # nothing sampled is left: the whole form, step by step
            return self._decode_asked(drafts, piece, sampling)
        # What later sections see of an added one before it is sampled: its
        # type's first section where there is one, else the middle of the rest.
        first = {d.type: d for d in reversed(kept)}
        middle = Draft(SectionRequest("verse"), int(statistics.median_low(d.bars for d in kept)),
                       statistics.median_low(d.energy for d in kept))
        seen = [d if d.bars is not None else first.get(d.type, middle) for d in drafts]
        device = piece.text.device
        starts = torch.tensor([sum(d.bars for d in seen[:i]) * piece.bar_s for i in range(len(seen))], device=device)
        out = self(piece.text, torch.tensor([[SECTION_TYPES.index(d.type) for d in drafts]], device=device),
                   self.bars_to_index(torch.tensor([[d.bars for d in seen]], device=device)),
                   self.energy_to_bin(torch.tensor([[d.energy for d in seen]], device=device)),
                   starts[None], piece.duration, piece.tempo)
        for i in added:
            drafts[i].bars = BAR_CHOICES[sampling.draw(out["bars"][0, i])]
            drafts[i].energy = self.energy_value(sampling.draw(out["energy"][0, i]))
        return drafts

    def _decode_asked(self, drafts: list[Draft], piece: _Piece, sampling: _Sampling) -> list[Draft]:
        """`drafts` with their types teacher-forced, the bars and energy they
        lack sampled (in place)."""
        if len(drafts) > self.config.decoder.max_len:
            raise FormError(f"the form asked has {len(drafts)} sections; "
                            f"the planner plans at most {self.config.decoder.max_len}")
        if all(d.bars is not None and d.energy is not None for d in drafts):
            return drafts
        prev = self._piece_start()
        cache = KVCache()
        bars_so_far = 0
        for d in drafts:
            heads = self._step(prev, bars_so_far, piece, cache)
            if d.bars is None:
                d.bars = BAR_CHOICES[sampling.draw(heads["bars"])]
            if d.energy is None:
                d.energy = self.energy_value(sampling.draw(heads["energy"]))
            bars_id = int(self.bars_to_index(torch.tensor(d.bars)))
            prev = (SECTION_TYPES.index(d.type), bars_id, int(self.energy_to_bin(torch.tensor(d.energy))))
            bars_so_far += d.bars
        return drafts

    def _step(self, prev: tuple[int, ...], bars_so_far: int, piece: _Piece,
              cache: KVCache) -> dict[str, torch.Tensor]:
        """The heads' logits [C] for the section after `prev`, starting `bars_so_far` bars in."""
        device = piece.text.device
        start = torch.tensor([[bars_so_far * piece.bar_s]], device=device)
        x = self._step_inputs(piece.text, torch.tensor([[prev]], device=device), start, piece.duration, piece.tempo)
        return self._heads(self.decoder(x, cache=cache)[0, -1])

    def _piece_start(self) -> tuple[int, int, int]:
        """The extra ids that stand for "no previous section"."""
        return len(SECTION_TYPES), len(BAR_CHOICES), self.config.energy_bins

    def _sections(self, drafts: list[Draft], bars: list[int], bar_s: float, duration_s: float,
                  form: FormRequest) -> list[SectionPlan]:
        sections: list[SectionPlan] = []
        first_of: dict[str, int] = {}
        bars_before = 0
        for i, (draft, n) in enumerate(zip(drafts, bars)):
            ask, energy = draft.request, float(draft.energy)  # type: ignore[arg-type]
            if not form.sections and draft.type in form.described:
                # Words the prompt gave every section of this type.
                ask = form.described[draft.type]
                energy = ask.energy if ask.energy is not None else energy
            # Times come from whole bar counts: no drift, and each end equals the next start.
            start = bars_before * bar_s
            end = (bars_before + n) * bar_s
            bars_before += n
            if i == len(drafts) - 1:
                if ask.bars is None:
                    n = max(1, round(n * (duration_s - start) / (end - start)))
                end = duration_s
                if form.ending == "abrupt" and ask.energy is None:
                    energy = max(energy, self._abrupt_energy())
            repeat_of = first_of.setdefault(draft.type, i)
            sections.append(SectionPlan(draft.type, start, end, n, energy, repeat_of, ask.description, ask.drums,
                                        ask.modal_interchange or draft.type in form.modal_interchange,
                                        ask.displacement or draft.type in form.displacement))
        return sections

    def _abrupt_energy(self) -> float:
        """The least energy bin at ABRUPT_ENERGY or above."""
        bins = (self.energy_value(i) for i in range(self.config.energy_bins))
        return min(e for e in bins if e >= ABRUPT_ENERGY)


def _stated_bars(form: FormRequest) -> int:
    return sum(s.bars for s in form.sections)  # type: ignore[misc]


def _room(form: FormRequest, tempo_bpm: float, duration_s: float | None) -> str | None:
    """Why `form` cannot fit at `tempo_bpm`, or None (form_rules.room_error)."""
    bar_s = bar_seconds(tempo_bpm)
    return room_error(form, tempo_bpm, bar_s, duration_s if duration_s is not None else _stated_bars(form) * bar_s)


def _only(logits: torch.Tensor, allowed: Collection[object] | None, names: Sequence[object]) -> torch.Tensor:
    """`logits` [C] with the choices not `allowed` (of `names`) masked away; None: all allowed."""
    if allowed is None:
        return logits
    banned = torch.tensor([n not in allowed for n in names], device=logits.device)
    return logits.masked_fill(banned, float("-inf"))


@dataclass(frozen=True)
class _Sampling:
    generator: torch.Generator  # one plan's only source of randomness
    temperature: float
    top_k: int

    def draw(self, logits: torch.Tensor) -> int:
        return int(sample(logits, self.temperature, self.top_k, self.generator))


@dataclass(frozen=True)
class _Piece:
    """What every decoding step of one piece is conditioned on."""
    text: torch.Tensor  # [1, E]
    duration: torch.Tensor  # [1]
    tempo: torch.Tensor  # [1]
    duration_s: float
    tempo_bpm: float
    bar_s: float
