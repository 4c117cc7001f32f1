"""Trains the semantic level (`minilm_planner`) on a built corpus.

One step trains every learned part on the same songs (ARCHITECTURE.md §3):
- the planner: cross-entropy of tempo, key and mode from the caption's joint
  text embedding, and of each section's type, bars and energy, teacher-forced
  over the labelled sections;
- the semantic transformer: cross-entropy of the song's semantic tokens,
  conditioned on the labels' plan exactly as a served plan conditions it;
- structure: a boundary head on the transformer's states predicts the
  labelled section starts, and the states of a section that brings back an
  earlier one (labels' repeat_of) are pulled towards the states at the same
  offset of that first occurrence (cosine distance, the first held still so
  it is not dragged towards its copies).
The boundary head only shapes training; it is saved in the step checkpoints
but not in the plugin's weights.

Captions go through the frozen MiniLM once, in several wordings per composed
song (`caption_variants`); each step picks one, so the planner cannot
memorise one sentence per song. With `text_audio` set, the text projection is
the joint space's, loaded from that checkpoint and kept frozen, so the plan's
text embedding stays in the space the audio tower shares; otherwise it
trains with the planner.

Resumable like every trainer here (services/common/training.py): the batch of
step s comes from the generator seeded with (seed, s). Validation reports each
planned attribute's and the tokens' cross-entropy next to its unigram baseline
(the entropy of the training split's frequencies), and planner accuracies."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hiermusic.corpus.build import TOKENIZER_FILE
from hiermusic.corpus.semantic_tokenizer import SemanticTokenizer, TokenizerCard
from hiermusic.v1 import levels_pb2
from hiermusic.corpus.token_space import read_tokenizer, with_tokenizer
from hiermusic.services.common.checkpoint import ModelCard, load_checkpoint
from hiermusic.services.common.level import card_for, state_digest
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.training import Run, Steps, by_split, describe_splits, train_loop, unigram_entropy, warm_start
from hiermusic.services.semantic.caption_wordings import Captions
from hiermusic.services.semantic.plugin import MiniLMPlanner, MiniLMPlannerConfig, MiniLMPlannerModel
from hiermusic.services.semantic.semantic_batches import (IGNORE, Batch, Piece, drums_evidence, key_profiles, load_pieces,
                                               make_batch)
from hiermusic.services.semantic.semantic_model import SemanticConfig

FINAL = "semantic.safetensors"
PLANNED = ("tempo", "key", "mode", "section_type", "bars", "energy")
STREAMS = (*PLANNED, "semantic", "boundary")  # each with a cross-entropy and its unigram baseline

Log = Callable[[str], None]


@dataclass
class SemanticTrainConfig:
    # Vocabulary: the corpus's tokenizer. The trainer's models hear the drums flag and keep the key.
    model: MiniLMPlannerConfig = field(
        default_factory=lambda: MiniLMPlannerConfig(semantic=SemanticConfig(drums_input=True, key_feedback=True)))
    steps: int = 20000
    batch: int = 8
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 500
    grad_clip: float = 1.0
    caption_variants: int = 8  # wordings per composed training song, the stored caption first; 1 = stored only
    max_frames: int = 0  # songs cut to their first max_frames tokens; 0: the transformer's max_len
    planner_weight: float = 1.0  # on the sum of the six planner cross-entropies
    semantic_weight: float = 1.0
    boundary_weight: float = 0.1
    repeat_weight: float = 0.1
    text_audio: str = ""  # a text_audio.safetensors whose frozen text projection to use; empty: train one
    # Start from these weights (an earlier run's semantic.safetensors) instead
    # of random ones; layers they lack (the drums input) start as initialised.
    init_checkpoint: str = ""
    # Share of training songs whose drums are hidden ("unsaid"), as from a
    # prompt that does not mention them; the corpus's labels always say.
    drums_unsaid: float = 0.3
    release: str = "0.1"  # the card's version is minilm_planner-<release>-<weights digest>
    eval_every: int = 500
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int = 1


def corpus_model_config(config: MiniLMPlannerConfig, tokenizer: TokenizerCard) -> MiniLMPlannerConfig:
    """The model speaks the corpus's semantic tokens, so its token space names them."""
    space = with_tokenizer(config.semantic.token_space, tokenizer)
    return replace(config, semantic=replace(config.semantic, token_space=space))


def load_text_projection(model: MiniLMPlannerModel, config: MiniLMPlannerConfig, path: Path) -> None:
    """The joint space's text projection from a text–audio checkpoint, frozen."""
    from hiermusic.services.semantic.text_audio_model import PLUGIN

    state, card, _ = load_checkpoint(path)
    if card.plugin != PLUGIN:
        raise ValueError(f"text_audio {path} is a {card.plugin} checkpoint, not {PLUGIN}")
    ours = (asdict(config.text), config.token_space.embedding_dim)
    if (card.config.get("text"), card.config.get("embedding_dim")) != ours:
        raise ValueError(f"text_audio {path} has text tower {card.config.get('text')} into "
                         f"{card.config.get('embedding_dim')} dims; this model has {ours[0]} into {ours[1]}")
    model.text.load_state_dict({k.removeprefix("text."): v for k, v in state.items() if k.startswith("text.")})
    model.text.requires_grad_(False)


def boundary_head(config: MiniLMPlannerConfig) -> nn.Linear:
    """Transformer state [.., D] -> logit that the frame starts a new section."""
    return nn.Linear(config.semantic.transformer.dim, 1)


def forward(model: MiniLMPlannerModel, head: nn.Linear, batch: Batch) -> dict[str, torch.Tensor]:
    """Planner logits per attribute, token logits [B, T, V], boundary logits [B, T], states [B, T, D]."""
    out = model.planner(batch.cond.text, **batch.planner_inputs)
    hidden = model.semantic.hidden(batch.tokens, batch.cond)
    return {**out, "semantic": model.semantic.head(hidden), "boundary": head(hidden)[..., 0], "hidden": hidden}


def loss_sums(out: dict[str, torch.Tensor], batch: Batch) -> dict[str, tuple[torch.Tensor, int]]:
    """(sum, count) per stream, so batches of padded songs average exactly."""
    sums: dict[str, tuple[torch.Tensor, int]] = {}
    targets = {**batch.planner_targets, "semantic": batch.token_targets}
    for name, target in targets.items():
        logits = out[name].flatten(0, -2)  # [N, C]
        sums[name] = (F.cross_entropy(logits, target.flatten(), ignore_index=IGNORE, reduction="sum"),
                      int((target != IGNORE).sum()))
    boundary = F.binary_cross_entropy_with_logits(out["boundary"], batch.boundary, reduction="none")
    sums["boundary"] = ((boundary * batch.frame_mask).sum(), int(batch.frame_mask.sum()))
    hidden = out["hidden"].flatten(0, 1)  # [B * T, D]
    again, first = hidden[batch.repeats[:, 0]], hidden[batch.repeats[:, 1]].detach()  # [P, D]
    sums["repeat"] = ((1 - F.cosine_similarity(again, first, dim=-1)).sum(), len(batch.repeats))
    return sums


def mean(pair: tuple[torch.Tensor, int]) -> torch.Tensor:
    return pair[0] / max(pair[1], 1)


def total_loss(sums: dict[str, tuple[torch.Tensor, int]], config: SemanticTrainConfig) -> torch.Tensor:
    return (config.planner_weight * sum(mean(sums[name]) for name in PLANNED)
            + config.semantic_weight * mean(sums["semantic"]) + config.boundary_weight * mean(sums["boundary"])
            + config.repeat_weight * mean(sums["repeat"]))


def unigram_baselines(pieces: list[Piece]) -> dict[str, float]:
    """Each stream's cross-entropy under its training frequencies alone: what a
    model that ignores the text and the plan would score."""
    values = {
        **{name: [p.global_ids[k] for p in pieces] for k, name in enumerate(("tempo", "key", "mode"))},
        "section_type": [p.section_ids[:, 0] for p in pieces],
        "bars": [p.section_ids[:, 1] for p in pieces],
        "energy": [p.section_ids[:, 2] for p in pieces],
        "semantic": [p.tokens for p in pieces],
        "boundary": [p.boundary for p in pieces],
    }
    return {name: unigram_entropy(values[name]) for name in STREAMS}


@torch.no_grad()
def evaluate(model: MiniLMPlannerModel, head: nn.Linear, pieces: list[Piece], sentences: torch.Tensor,
             batch: int) -> dict[str, float]:
    """Teacher-forced cross-entropy of every stream, the repeat distance and
    planner accuracies over `pieces`; `sentences` are their MiniLM caption
    embeddings [N, text_dim]."""
    was_training = model.training
    model.eval()
    head.eval()
    planner = model.planner.config
    totals: dict[str, list[float]] = {}

    def add(name: str, value: torch.Tensor | float, count: int) -> None:
        total = totals.setdefault(name, [0.0, 0])
        total[0] += float(value)
        total[1] += count

    for start in range(0, len(pieces), batch):
        group = pieces[start : start + batch]
        b = make_batch(group, model.text(sentences[start : start + batch]), model.planner)
        out = forward(model, head, b)
        for name, (value, count) in loss_sums(out, b).items():
            add(f"{name}_ce" if name != "repeat" else "repeat_distance", value, count)
        target = b.planner_targets
        real = target["section_type"] != IGNORE  # [B, S]
        add("section_type_accuracy", ((out["section_type"].argmax(-1) == target["section_type"]) & real).sum(),
            int(real.sum()))
        tempo = planner.tempo_min + out["tempo"].argmax(-1) * planner.tempo_step  # [B] bpm
        add("tempo_within_5pct", ((tempo - b.tempo_bpm).abs() <= 0.05 * b.tempo_bpm).sum(), len(group))
        for name in ("key", "mode"):
            add(f"{name}_accuracy", (out[name].argmax(-1) == target[name]).sum(), len(group))
    model.train(was_training)
    head.train(was_training)
    # A split without repeats has no repeat distance rather than a perfect one.
    return {name: value / count for name, (value, count) in totals.items() if count} | {"songs": float(len(pieces))}


def describe(found: dict[str, float], unigram: dict[str, float]) -> str:
    streams = " ".join(f"{name} {found[f'{name}_ce']:.3f}/{unigram[name]:.3f}" for name in STREAMS)
    repeat = f"{found['repeat_distance']:.3f}" if "repeat_distance" in found else "n/a (no repeats)"
    return (f"ce/unigram {streams}; repeat distance {repeat}; section type accuracy "
            f"{found['section_type_accuracy']:.3f}, tempo within 5% {found['tempo_within_5pct']:.3f}, "
            f"key {found['key_accuracy']:.3f}, mode {found['mode_accuracy']:.3f} over {found['songs']:.0f} songs")


def train(data_dir: Path, out_dir: Path, config: SemanticTrainConfig, device: str = "cpu", log: Log = print) -> dict:
    """Trains (or resumes) into out_dir; writes out_dir/semantic.safetensors
    with its card, loadable by `minilm_planner`, and returns {steps,
    wall_time_s, steps_per_s, metrics, checkpoint}."""
    torch.set_num_threads(config.threads)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dev = resolve_device(device)
    tokenizer = read_tokenizer(data_dir)
    model_config = corpus_model_config(config.model, tokenizer)
    torch.manual_seed(config.seed)
    model = MiniLMPlannerModel(model_config).to(dev)
    head = boundary_head(model_config).to(dev)
    # Frozen parameters stay in the optimizer (they get no gradient, so no
    # state), so a resumed run indexes its state the same way either way.
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=config.lr,
                                  weight_decay=config.weight_decay)
    run = Run.start(out_dir, {"model": model, "boundary": head}, optimizer, model_config, log, config, data_dir)
    warm_start(run, model, config.init_checkpoint, log)
    if config.text_audio:  # after a warm start, so the joint space's projection is the one kept
        load_text_projection(model, model_config, Path(config.text_audio))

    rate = model_config.token_space.semantic_rate
    max_len = model_config.semantic.transformer.max_len
    pieces = by_split(load_pieces(data_dir, model.planner, rate, min(config.max_frames or max_len, max_len),
                                  tokenizer, log))
    train_set = pieces["train"]
    if not train_set:
        raise ValueError(f"{data_dir} has no training songs with a whole plan")
    log(describe_splits(pieces))
    if model_config.semantic.drums_input:  # from the training songs, so a resumed run makes the same
        model.semantic.drums_evidence.copy_(drums_evidence(train_set, model_config.semantic.token_space
                                                           .semantic_vocab_size))
    if model_config.semantic.key_feedback:
        chroma = torch.from_numpy(SemanticTokenizer.load(data_dir / TOKENIZER_FILE).centroid_chroma())
        model.semantic.token_chroma.copy_(chroma)
        model.semantic.key_profiles.copy_(key_profiles(train_set, chroma))
    unigram = unigram_baselines(train_set)
    run.metrics.update({f"unigram_{name}_ce": value for name, value in unigram.items()})
    if run.step == 0:  # the boundary head starts at the prior, its loss at the unigram baseline
        share = min(max(float(torch.cat([p.boundary for p in train_set]).float().mean()), 1e-4), 1 - 1e-4)
        with torch.no_grad():
            head.bias.fill_(math.log(share / (1 - share)))
    captions = Captions(pieces, config.caption_variants, dev, log)
    batch = min(config.batch, len(train_set))

    def losses(generator: torch.Generator) -> dict[str, torch.Tensor]:
        picks = torch.randperm(len(train_set), generator=generator)[:batch]
        b = make_batch([train_set[i] for i in picks], model.text(captions.pick(picks, generator)), model.planner)
        hide = torch.rand(len(picks), generator=generator).to(dev) < config.drums_unsaid
        b.cond.drums = b.cond.drums.masked_fill(hide, levels_pb2.DRUMS_UNSAID)
        sums = loss_sums(forward(model, head, b), b)
        return {"loss": total_loss(sums, config), "planner": sum(mean(sums[n]) for n in PLANNED),
                **{n: mean(sums[n]) for n in ("semantic", "boundary", "repeat")}}

    def validate(split: str = "valid") -> None:
        if pieces[split]:
            found = evaluate(model, head, pieces[split], captions.stored[split], batch)
            run.metrics.update({f"{split}_{k}": v for k, v in found.items()})
            log(f"step {run.step} {split} {describe(found, unigram)}")

    def card() -> ModelCard:
        version = f"{MiniLMPlanner.name}-{config.release}-{state_digest(model)[:8]}"
        made = card_for(MiniLMPlanner.name, MiniLMPlanner.level, model_config, model_config.token_space, version)
        return run.card(made, data_dir, config, device=str(dev), boundary_head="step checkpoints only")

    train_loop(run, config, Steps(losses, validate, card), log)

    if config.steps == 0:  # no step validated: e.g. a warm start that only adds the drums evidence
        validate()
    validate("test")
    return run.finish(card(), out_dir / FINAL)
