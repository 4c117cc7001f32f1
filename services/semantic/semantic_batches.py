"""The semantic level's training data: the corpus songs whose labels give a
whole plan, their semantic tokens, and the padded batches the planner and the
semantic transformer learn from.

A song's labels become the FormPlan the planner would have produced for it
(label_plans.form_of), and the transformer's conditioning is built from that
plan by the same `form_conditioning` that serves a request, so training and
inference see the same inputs. A long song is cut to its first `max_frames` tokens: a prefix
keeps every position and conditioning as the full piece has them."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.plannable import unplannable
from hiermusic.corpus.semantic_tokenizer import TokenizerCard
from hiermusic.services.common.music import MODES, SECTION_TYPES, key_index
from hiermusic.services.common.training import drums_evidence as common_drums_evidence
from hiermusic.services.semantic.key_feedback import song_profile
from hiermusic.services.semantic.label_plans import form_of
from hiermusic.services.semantic.planner import FormPlan, Planner
from hiermusic.services.semantic.plan_request import drums_value
from hiermusic.services.semantic.plugin import form_conditioning
from hiermusic.services.semantic.semantic_model import PieceConditioning, repeat_pairs

IGNORE = -100  # target of padding; F.cross_entropy skips it

Log = Callable[[str], None]


@dataclass
class Piece:
    labels: SongLabels
    split: str
    form: FormPlan  # the labels as the planner would have planned them
    global_ids: torch.Tensor  # int64 [3], tempo-bin, key and mode ids
    section_ids: torch.Tensor  # int64 [S, 3], each section's type, bar-choice and energy-bin ids
    tokens: torch.Tensor  # int64 [T], the first T <= max_frames semantic tokens
    boundary: torch.Tensor  # bool [T], True on the first frame of every section but the first
    repeats: torch.Tensor  # int64 [P, 2], (frame of a repeat, same offset into its first occurrence)
    # The conditioning of its form, made once (on the CPU, its text a
    # placeholder): each batch only adds the text embeddings of that step.
    layout: PieceConditioning


@dataclass
class Batch:
    cond: PieceConditioning  # padded; its text is the batch's joint text embeddings
    tokens: torch.Tensor  # int64 [B, T], padding 0
    token_targets: torch.Tensor  # int64 [B, T], padding IGNORE
    planner_inputs: dict[str, torch.Tensor]  # Planner.forward's keyword arguments
    planner_targets: dict[str, torch.Tensor]  # per planned attribute: [B] or [B, S], padding IGNORE
    tempo_bpm: torch.Tensor  # float32 [B], the labelled tempo
    boundary: torch.Tensor  # float32 [B, T]
    frame_mask: torch.Tensor  # bool [B, T], False = padding
    repeats: torch.Tensor  # int64 [P, 2], pairs of indices into the flattened [B * T] frames


def global_ids(labels: SongLabels, planner: Planner) -> torch.Tensor:
    """int64 [3]: the song's tempo bin, key and mode as the planner's class ids."""
    tempo = planner.tempo_to_bin(torch.tensor(float(labels.tempo_bpm)))
    return torch.stack([tempo, torch.tensor(key_index(labels.key)), torch.tensor(MODES.index(labels.mode))])


def section_ids(labels: SongLabels, planner: Planner) -> torch.Tensor:
    """int64 [S, 3]: what the planner predicts of each section, as its heads' class ids."""
    device = planner.bar_edges.device
    types = torch.tensor([SECTION_TYPES.index(s.type) for s in labels.sections], device=device)
    bars = planner.bars_to_index(torch.tensor([s.bars for s in labels.sections], device=device))
    energy = planner.energy_to_bin(torch.tensor([s.energy for s in labels.sections], device=device))
    return torch.stack([types, bars, energy], dim=1).cpu()


def load_pieces(data_dir: Path, planner: Planner, rate: float, max_frames: int,
                tokenizer: TokenizerCard, log: Log) -> list[Piece]:
    """Every corpus song whose labels make a whole plan; the others (scores'
    phrases, user audio without tempo or sections) are counted and skipped."""
    pieces: list[Piece] = []
    skipped: Counter[str] = Counter()
    for name in shards.corpus_shards(data_dir):
        semantic = shards.read_semantic(data_dir, name, tokenizer.tokenizer_id)
        for split, labels in shards.read_index(data_dir, name):
            if reason := unplannable(labels):
                skipped[reason] += 1
                continue
            tokens = torch.from_numpy(semantic[labels.song_id]).long()[:max_frames]  # [T]
            form = form_of(labels, planner)
            layout = form_conditioning(torch.zeros(1, 1), form, len(tokens), rate, drums_value(labels.drums))
            sections = layout.frame_sections[0]  # [T]
            boundary = torch.cat([torch.zeros(1, dtype=torch.bool), sections[1:] != sections[:-1]])
            repeats = repeat_pairs(sections, [s.repeat_of for s in labels.sections])
            pieces.append(Piece(labels, split, form, global_ids(labels, planner), section_ids(labels, planner),
                                tokens, boundary, repeats, layout))
    if skipped:
        log("skipped songs without a whole plan: " + ", ".join(f"{n} ({why})" for why, n in skipped.items()))
    return pieces


def make_batch(pieces: list[Piece], text: torch.Tensor, planner: Planner) -> Batch:
    """`text`: the pieces' joint text embeddings [B, E]; everything lands on its device."""
    device = text.device
    conds = [p.layout for p in pieces]

    def pad(rows: list[torch.Tensor], value: float = 0) -> torch.Tensor:
        return pad_sequence([r.to(device) for r in rows], batch_first=True, padding_value=value)

    cond = PieceConditioning(
        text=text,
        key=torch.cat([c.key for c in conds]).to(device),
        mode=torch.cat([c.mode for c in conds]).to(device),
        tempo_bpm=torch.cat([c.tempo_bpm for c in conds]).to(device),
        section_types=pad([c.section_types[0] for c in conds]),  # [B, S]
        section_energy=pad([c.section_energy[0] for c in conds]),
        frame_sections=pad([c.frame_sections[0] for c in conds]),  # [B, T]
        section_position=pad([c.section_position[0] for c in conds]),
        bar_position=pad([c.bar_position[0] for c in conds]),
        section_mask=pad([torch.ones(len(p.form.sections), dtype=torch.bool) for p in pieces], False),
        drums=torch.cat([c.drums for c in conds]).to(device),
    )
    tokens = [p.tokens for p in pieces]
    labels = [p.labels for p in pieces]
    types, bars, energy = ([p.section_ids[:, k] for p in pieces] for k in range(3))
    tempo = torch.tensor([float(x.tempo_bpm) for x in labels], device=device)  # [B]
    duration = torch.tensor([x.duration_s for x in labels], device=device)
    starts = pad([torch.tensor([s.start_s for s in x.sections]) for x in labels], float("inf"))
    frames = cond.frame_sections.shape[1]
    repeats = torch.cat([p.repeats + i * frames for i, p in enumerate(pieces)]).to(device)
    return Batch(
        cond=cond,
        tokens=pad(tokens),
        token_targets=pad(tokens, IGNORE),
        planner_inputs={
            "section_types": pad(types), "section_bars": pad(bars), "section_energy": pad(energy),
            # Padding sections start at the end of the piece.
            "start_s": torch.minimum(starts, duration[:, None]), "duration_s": duration, "tempo_bpm": tempo,
        },
        planner_targets={
            **{name: torch.stack([p.global_ids[k] for p in pieces]).to(device)
               for k, name in enumerate(("tempo", "key", "mode"))},
            "section_type": pad(types, IGNORE), "bars": pad(bars, IGNORE), "energy": pad(energy, IGNORE),
        },
        tempo_bpm=tempo,
        boundary=pad([p.boundary.float() for p in pieces]),
        frame_mask=pad([torch.ones(len(t), dtype=torch.bool) for t in tokens], False),
        repeats=repeats,
    )


def drums_evidence(pieces: list[Piece], vocab: int) -> torch.Tensor:
    """float32 [3, modes, vocab], indexed by levels_pb2.Drums value and mode
    (MODES): services.common.training.drums_evidence over each mode's pieces.
    Songs whose labels do not say are left out."""
    said = [p for p in pieces if p.labels.drums is not None]
    return torch.stack([common_drums_evidence(((bool(p.labels.drums), p.tokens) for p in said
                                               if int(p.global_ids[2]) == mode), vocab)
                        for mode in range(len(MODES))], dim=1)


def key_profiles(pieces: list[Piece], token_chroma: torch.Tensor) -> torch.Tensor:
    """float32 [modes, 12] (MODES): the mean over the pieces of each mode of
    their tokens' mean chroma, each piece turned so that its key is C; zeros
    for a mode no piece has."""
    sums = torch.zeros(len(MODES), token_chroma.shape[1])
    counts = torch.zeros(len(MODES))
    for p in pieces:
        key, mode = int(p.global_ids[1]), int(p.global_ids[2])
        sums[mode] += song_profile(token_chroma, p.tokens, key)
        counts[mode] += 1
    return sums / counts.clamp(min=1)[:, None]
