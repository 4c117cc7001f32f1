"""Trains the acoustic level (`coarse_transformer`) on a built corpus, the way
the scheduler uses it (ARCHITECTURE.md §2 and §3).

An example is a window of `chunks` consecutive chunks of one song, laid out
as the scheduler lays out a piece (5 s chunks, 1 s overlap). The chunks run
in order, teacher-forced: each gets its plan context through the serving
path (corpus/chunked_songs.py, coarse_data), the true codes of its overlap
as the prefix, and the summary tokens the model returned for the chunk
before, with the gradient flowing back through them across the window
(truncated there). A window that starts mid-song first runs the chunk before it without gradient, so its
first chunk gets a summary as it would at inference; a song's first chunk
gets none. Losses:
- cross-entropy of both coarse codebooks on the frames the level writes at
  inference (everything but the overlap prefix);
- temporal continuity: on the overlap, the distributions a chunk predicts
  must match those the chunk before predicted for the same frames (KL, the
  earlier chunk held still: it saw those frames' past, the later one only
  through the summary, so the summary learns to carry what matters).

Resumable like every trainer here (services/common/training.py): the batch of
step s comes from the generator seeded with (seed, s). Validation walks whole
songs chunk by chunk and reports each codebook's cross-entropy next to its
unigram baseline (the entropy of the training split's code frequencies), the
same with no summaries passed on (what the summaries are worth), the
cross-entropy of the chunks in a return (those with a thematic memory: what
the memory is worth, beside a run with it held shut) and the continuity loss."""
from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import reduce
from pathlib import Path

import torch
import torch.nn.functional as F

from hiermusic.corpus.chunked_songs import Chunking, PlanConditioner, Song, load_songs
from hiermusic.corpus.token_space import corpus_token_space
from hiermusic.v1 import levels_pb2
from hiermusic.services.acoustic.coarse_data import Window, chunk_batch, training_windows, whole_songs
from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer
from hiermusic.services.acoustic.plugin import CoarseTransformerPlugin
from hiermusic.services.common.checkpoint import ModelCard
from hiermusic.services.common.chunk_layout import CHUNK_S, OVERLAP_S, SEMANTIC_MARGIN_S
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import card_for, state_digest
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.training import (Run, Steps, by_split, describe_splits, drums_evidence, train_loop,
                                      unigram_entropy, warm_start)

FINAL = "acoustic.safetensors"
PLUGIN, LEVEL = CoarseTransformerPlugin.name, CoarseTransformerPlugin.level

Log = Callable[[str], None]


@dataclass
class CoarseTrainConfig:
    # Token space: the corpus's codec and tokenizer.
    model: CoarseConfig = field(default_factory=CoarseConfig)
    steps: int = 20000
    batch: int = 16  # windows per step
    chunks: int = 3  # consecutive chunks per window: summaries are backpropagated through these
    chunk_s: float = CHUNK_S  # the scheduler's chunking, which the model is trained for
    overlap_s: float = OVERLAP_S
    semantic_margin_s: float = SEMANTIC_MARGIN_S
    continuity_weight: float = 1.0
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 500
    grad_clip: float = 1.0
    # The semantic plugin checkpoint whose text and section embeddings condition
    # training (the command line makes the plan conditioner `train` takes from
    # it); empty: its seeded untrained weights, as an untrained service sends.
    semantic_checkpoint: str = ""
    # Start from these weights (e.g. an earlier run's) instead of random ones;
    # layers they lack start as initialised.
    init_checkpoint: str = ""
    # Share of training windows whose drums are hidden ("unsaid"), as from a
    # prompt that does not mention them; the corpus's labels always say.
    drums_unsaid: float = 0.3
    eval_songs: int = 64  # songs of the valid (and test) split scored, the first of each; 0: all
    release: str = "0.1"  # the card's version is coarse_transformer-<release>-<weights digest>
    eval_every: int = 500
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int = 1
    # False holds the thematic memory's gate shut (its weights frozen at their
    # neutral start): the chunks in a return still get their memory, so the
    # ablation is scored on the same chunks, but the model cannot hear it.
    thematic_memory: bool = True
    # The memory's gates (scalars that start at 0) learn at this many times
    # lr: at lr alone Adam opens one by about lr a step, too slowly for a
    # fine-tune of a few thousand steps to hear the memory at all.
    memory_gate_lr_scale: float = 20.0


@dataclass
class Geometry:
    """Everything a walk over chunks needs besides the model and the songs."""

    chunking: Chunking
    max_frames: int
    device: torch.device
    max_memory_frames: int = 0  # the longest thematic memory a chunk in a return gets

    @classmethod
    def of(cls, config: CoarseTrainConfig, model: CoarseConfig, device: torch.device) -> "Geometry":
        max_frames = model.transformer.max_len - model.token_space.summary_tokens
        chunking = Chunking.of(config.chunk_s, config.overlap_s, config.semantic_margin_s, model.token_space,
                               max_frames)
        return cls(chunking, max_frames, device, min(model.max_memory_frames, max_frames))


@dataclass
class Sums:
    """Loss sums and counts of a walk, so padded batches average exactly."""

    ce: torch.Tensor  # [codebooks], summed over written frames
    written: torch.Tensor  # frames written (per codebook)
    continuity: torch.Tensor  # KL summed over overlap frames and codebooks
    overlapped: torch.Tensor  # overlap frames x codebooks
    # The part of ce and written in chunks with a thematic memory (a return).
    ce_return: torch.Tensor
    written_return: torch.Tensor

    def ce_mean(self) -> torch.Tensor:
        return (self.ce / self.written.clamp(min=1)).mean()

    def ce_return_mean(self) -> torch.Tensor:
        return (self.ce_return / self.written_return.clamp(min=1)).mean()

    def continuity_mean(self) -> torch.Tensor:
        return self.continuity / self.overlapped.clamp(min=1)

    def __add__(self, other: "Sums") -> "Sums":
        return Sums(self.ce + other.ce, self.written + other.written, self.continuity + other.continuity,
                    self.overlapped + other.overlapped, self.ce_return + other.ce_return,
                    self.written_return + other.written_return)


def walk(model: CoarseTransformer, windows: list[Window], geometry: Geometry, summaries: bool = True,
         unsaid: torch.Tensor | None = None) -> Sums:
    """Teacher-forced pass over each window's chunks in order, chained as the
    scheduler chains them. `summaries` False gives every chunk none (the
    first chunk's learned stand-in): what the model does without them.
    `unsaid` (bool [B]) hides those windows' drums from the model."""
    space, chunking = model.config.token_space, geometry.chunking
    hop, overlap = chunking.hop, chunking.overlap
    zero = torch.zeros((), device=geometry.device)
    per_codebook = torch.zeros(space.coarse_codebooks, device=geometry.device)
    sums = Sums(per_codebook, zero, zero, zero, per_codebook, zero)

    def batch(slot: int):
        made = chunk_batch(windows, slot, space, chunking, geometry.max_frames, geometry.device,
                           geometry.max_memory_frames)
        if unsaid is not None:
            hide = unsaid.to(made.plan.drums.device)
            made.plan.drums = made.plan.drums.masked_fill(hide, 0)
            made.plan.frame_drums = made.plan.frame_drums.masked_fill(hide[:, None], 0)
        return made

    summary, before = None, None  # before: log-probs [B, K, overlap, V] the last chunk gave the next one's overlap
    if summaries and any(w.first > 0 for w in windows):
        with torch.no_grad():
            warm = batch(-1)
            logits, summary = model(warm.codes, warm.plan, None, theme=warm.memory)
            before = logits[:, :, hop:].log_softmax(-1) if overlap else None
    for slot in range(max(w.count for w in windows)):
        b = batch(slot)
        logits, out = model(b.codes, b.plan, summary, b.opens if summary is not None else None,
                            theme=b.memory)  # [B, K, T, V]
        nll = F.cross_entropy(logits.flatten(0, 2), b.codes.flatten(), reduction="none").view(b.codes.shape)
        written = b.generated[:, None].float()  # [B, 1, T]
        sums.ce = sums.ce + (nll * written).sum(dim=(0, 2))
        sums.written = sums.written + written.sum()
        if b.memory is not None:
            in_return = written * b.memory.covered(written.shape[-1])[:, None].float()
            sums.ce_return = sums.ce_return + (nll * in_return).sum(dim=(0, 2))
            sums.written_return = sums.written_return + in_return.sum()
        if before is not None:
            here = logits[:, :, :overlap].log_softmax(-1)  # [B, K, overlap, V]
            kl = (before.exp() * (before - here)).sum(-1)  # [B, K, overlap]
            keep = b.continues[:, None, None].float()
            sums.continuity = sums.continuity + (kl * keep).sum()
            sums.overlapped = sums.overlapped + keep.sum() * kl.shape[1] * overlap
        before = logits[:, :, hop:].detach().log_softmax(-1) if overlap else None
        summary = out if summaries else None
    return sums


def unigram_baselines(songs: list[Song], codebooks: int) -> list[float]:
    """Entropy (nats) of each codebook's code frequencies over `songs`: the
    cross-entropy of a model that ignores every context."""
    return [unigram_entropy(s.codes[k] for s in songs) for k in range(codebooks)]


def coarse_drums_evidence(songs: list[Song], space: TokenSpaceConfig) -> torch.Tensor:
    """float32 [coarse_codebooks, 3, codebook_size]: each codebook's drums
    evidence (services.common.training.drums_evidence) over the songs whose
    labels say whether they have drums."""
    said = [s for s in songs if s.plan.drums != levels_pb2.DRUMS_UNSAID]
    return torch.stack([drums_evidence(((s.plan.drums == levels_pb2.DRUMS_WANTED, s.codes[k]) for s in said),
                                       space.codebook_size) for k in range(space.coarse_codebooks)])


@torch.no_grad()
def evaluate(model: CoarseTransformer, songs: list[Song], geometry: Geometry, batch: int) -> dict[str, float]:
    """Whole songs walked chunk by chunk, with and without summaries."""
    was_training = model.training
    model.eval()
    walks = sorted(whole_songs(songs), key=lambda w: w.count)  # similar lengths share a batch
    groups = [walks[i : i + batch] for i in range(0, len(walks), batch)]
    chained = reduce(operator.add, (walk(model, g, geometry) for g in groups))
    alone = reduce(operator.add, (walk(model, g, geometry, summaries=False) for g in groups))
    per_codebook = chained.ce / chained.written.clamp(min=1)
    metrics = {f"ce_cb{k}": float(v) for k, v in enumerate(per_codebook)}
    metrics |= {"ce": float(chained.ce_mean()), "ce_no_summary": float(alone.ce_mean()),
                "continuity": float(chained.continuity_mean()), "songs": float(len(songs)),
                "ce_return": float(chained.ce_return_mean()), "return_frames": float(chained.written_return)}
    model.train(was_training)
    return metrics


def train(data_dir: Path, out_dir: Path, config: CoarseTrainConfig, conditioner: PlanConditioner,
          device: str = "cpu", log: Log = print) -> dict:
    """Trains (or resumes) into out_dir, each song's plan made by
    `conditioner` (for the corpus's token space); writes
    out_dir/acoustic.safetensors with its card and returns {steps,
    wall_time_s, steps_per_s, metrics, checkpoint}."""
    torch.set_num_threads(config.threads)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dev = resolve_device(device)
    model_config = replace(config.model, token_space=corpus_token_space(config.model.token_space, data_dir))
    space = model_config.token_space
    geometry = Geometry.of(config, model_config, dev)
    torch.manual_seed(config.seed)
    model = CoarseTransformer(model_config).to(dev)
    gates = model.theme.gates()
    rest = [p for p in model.parameters() if all(p is not g for g in gates)]
    optimizer = torch.optim.AdamW([{"params": rest}, {"params": gates, "lr_scale": config.memory_gate_lr_scale,
                                                      "weight_decay": 0.0}],
                                  lr=config.lr, weight_decay=config.weight_decay)
    run = Run.start(out_dir, {"model": model}, optimizer, model_config, log, config, data_dir)
    warm_start(run, model, config.init_checkpoint, log)
    if not config.thematic_memory:
        model.theme.requires_grad_(False)

    songs = by_split(load_songs(data_dir, space, geometry.chunking, conditioner, log))
    if not songs["train"]:
        raise ValueError(f"{data_dir} has no training songs")
    windows = training_windows(songs["train"], config.chunks)
    log(describe_splits(songs) + f"; {len(windows)} training windows of {config.chunks} chunks of "
        f"{geometry.chunking.frames} frames; plans embedded by {conditioner.version}")
    # From the training songs, so a resumed run makes the same.
    model.drums_evidence.copy_(coarse_drums_evidence(songs["train"], space))
    baselines = unigram_baselines(songs["train"], space.coarse_codebooks)
    run.metrics.update({f"unigram_cb{k}": v for k, v in enumerate(baselines)})
    scored = {name: songs[name][: config.eval_songs or None] for name in ("valid", "test")}

    def losses(generator: torch.Generator) -> dict[str, torch.Tensor]:
        picks = torch.randint(len(windows), (config.batch,), generator=generator)
        unsaid = torch.rand(config.batch, generator=generator) < config.drums_unsaid
        sums = walk(model, [windows[i] for i in picks], geometry, unsaid=unsaid)
        ce, continuity = sums.ce_mean(), sums.continuity_mean()
        return {"loss": ce + config.continuity_weight * continuity, "ce": ce, "continuity": continuity}

    def score(split: str = "valid") -> None:
        if not scored[split]:
            return
        found = evaluate(model, scored[split], geometry, config.batch)
        run.metrics.update({f"{split}_{k}": v for k, v in found.items()})
        per_codebook = " ".join(f"cb{k} {found[f'ce_cb{k}']:.3f} (unigram {u:.3f})" for k, u in enumerate(baselines))
        log(f"step {run.step} {split} ce {per_codebook} without summaries {found['ce_no_summary']:.3f} "
            f"in returns {found['ce_return']:.3f} ({found['return_frames']:.0f} frames) "
            f"continuity {found['continuity']:.4f} over {len(scored[split])} songs")

    def card() -> ModelCard:
        made = card_for(PLUGIN, LEVEL, model_config, space, f"{PLUGIN}-{config.release}-{state_digest(model)[:8]}")
        return run.card(made, data_dir, config, device=str(dev), plan_embeddings=conditioner.version)

    train_loop(run, config, Steps(losses, score, card), log)

    score("test")
    return run.finish(card(), out_dir / FINAL)
