"""Trains the temporal level's fine transformer (RVQ levels 3-8 from levels
1-2 and the plan) on a built corpus, the way the service uses it.

A training example is a window of `window_chunks` consecutive chunks of one
song, laid out and given their plan context by the scheduler's own functions
(corpus/chunked_songs.py). Each chunk gets the summary the model returned
for the chunk before it, with gradients flowing through it, so the summary
learns to carry what the next chunk needs; the true fine tokens of the
overlap as its prefix, as the scheduler sends the previous chunk's; and its
loss on the frames after the prefix, the ones the service samples. A window that starts mid-song first
runs the chunk before it without gradients, so every trained chunk but a
song's first sees a real summary, as it would when served. The overlap's
fine tokens are given and copied, never sampled, so unlike the acoustic level
there is no second view of them for a continuity loss to align.

All fine levels are teacher-forced in one pass (FineTransformer.teacher_forced),
each at a random reveal step (chunk_cross_entropy); the trainer's models
sample each level in 4 interleaved steps (FineConfig.reveal_steps).
Validation walks whole songs chunk by chunk, each chunk with the summary of
the one before, and reports each fine codebook's cross-entropy next to its
unigram baseline (the entropy of the training split's token frequencies).

A fresh run gives the model the codebook vectors of the corpus's own codec
(corpus/token_space.corpus_codec); `fresh_fine_codes` starts the fine code
embeddings and outputs of warm-started weights afresh, for weights trained
on another codec's fine codes.

Resumable like every trainer here (services/common/training.py): the windows
of step s come from the generator seeded with (seed, s), so a resumed run
trains exactly as an uninterrupted one."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from hiermusic.corpus.chunked_songs import Chunking, PlanConditioner, Song, load_songs
from hiermusic.corpus.token_space import corpus_codec, corpus_token_space, shard_codec
from hiermusic.services.common.chunk_layout import CHUNK_S, OVERLAP_S, SEMANTIC_MARGIN_S, Chunk
from hiermusic.services.common.checkpoint import ModelCard
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import card_for, state_digest
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.training import Run, Steps, by_split, describe_splits, train_loop, unigram_entropy, warm_start
from hiermusic.services.common.plan_context import PlanContext
from hiermusic.services.temporal.fine_model import FineConfig, FineTransformer
from hiermusic.services.temporal.plugin import FineTransformerPlugin

FINAL = "temporal.safetensors"
PLUGIN, LEVEL = FineTransformerPlugin.name, FineTransformerPlugin.level

Log = Callable[[str], None]


@dataclass
class FineTrainConfig:
    # The token space's codec and semantic tokenizer fields are taken from the corpus.
    model: FineConfig = field(default_factory=FineConfig)
    steps: int = 20000
    batch: int = 8  # windows per step
    window_chunks: int = 3  # consecutive chunks per window, chained by their summaries
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 500
    grad_clip: float = 1.0
    # Chunking as the scheduler's defaults: a model trained on 5 s chunks serves 5 s chunks.
    chunk_s: float = CHUNK_S
    overlap_s: float = OVERLAP_S
    semantic_margin_s: float = SEMANTIC_MARGIN_S
    # The semantic level whose text and section embeddings the plan carries
    # (the command line makes the plan conditioner `train` takes from it);
    # empty: its seeded untrained weights, what an untrained mesh sends.
    semantic_checkpoint: str = ""
    # Start from these weights (an earlier run's) instead of random ones;
    # layers they lack start as initialised.
    init_checkpoint: str = ""
    # With init_checkpoint made on another codec's fine codes (a codec whose
    # fine codebooks were fitted again): its fine levels' code embeddings start
    # afresh and their output biases at the log unigram of the training songs'
    # codes, the rest of the model as it was.
    fresh_fine_codes: bool = False
    eval_every: int = 1000
    eval_songs: int = 32  # valid songs walked whole per evaluation (0: all); the test split is walked whole
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int = 1


@dataclass
class ChunkReader:
    """Turns (song, chunk) pairs of equal length into model inputs."""

    space: TokenSpaceConfig
    margin_s: float
    max_frames: int
    device: torch.device

    def read(self, items: list[tuple[Song, Chunk]]) -> tuple[torch.Tensor, PlanContext, int]:
        """-> codes long [B, codebooks, frames], the plan context, and the
        prefix length (the chunks' overlap with the previous chunk)."""
        frames, prefix = items[0][1].frames, items[0][1].overlap
        codes = torch.stack([song.codes[:, c.start : c.end] for song, c in items]).long().to(self.device)
        contexts = [song.context(c, self.space, self.margin_s, self.max_frames) for song, c in items]
        return codes, PlanContext.from_chunks(contexts, frames, self.space.frames_per_semantic, self.device), prefix


def chunk_cross_entropy(
    model: FineTransformer,
    codes: torch.Tensor,
    plan: PlanContext,
    summary: torch.Tensor | None,
    prefix: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Summed cross-entropy per fine level [fine] over the frames after the
    prefix, the summary [B, n, summary_dim] for the next chunk, and how many
    tokens the sum covers. Without a generator (evaluation) every reveal step
    is run and each frame scored at its own step: the exact likelihood of the
    order `generate` samples in, summary from the last step as `generate`
    pools it. With one (training) each chunk's pass for each level takes a
    random step and is scored on every frame not visible at it, as MaskGIT
    trains: all steps' conditionals from one pass."""
    b, fine, t = codes.shape[0], model.codebooks - model.coarse, codes.shape[-1]
    frame_steps = model.frame_steps(t, prefix, codes.device)[None, None]  # [1, 1, T]
    target = codes[:, model.coarse :]  # [B, fine, T]

    def scored_ce(step: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, summary_out = model.teacher_forced(codes, plan, summary, prefix, step)  # [B, fine, T, V]
        ce = F.cross_entropy(logits.permute(0, 3, 1, 2), target, reduction="none")  # [B, fine, T]
        return (ce * scored).sum(dim=(0, 2)), summary_out

    steps = model.config.reveal_steps
    if generator is not None:
        step = torch.randint(steps, (b, fine), generator=generator).to(codes.device)
        scored = frame_steps >= step[..., None]  # [B, fine, T]
        ce, summary_out = scored_ce(step, scored)
        return ce, summary_out, int(scored.sum())
    total = torch.zeros(fine, device=codes.device)
    for s in range(steps):
        ce, summary_out = scored_ce(codes.new_full((b, fine), s), frame_steps == s)
        total = total + ce
    return total, summary_out, b * fine * (t - prefix)


def window_loss(
    model: FineTransformer,
    reader: ChunkReader,
    windows: list[tuple[Song, list[Chunk], bool]],
    generator: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over a batch of windows and the number of tokens
    it covers. Windows are grouped by their chunks' lengths so each group runs
    batched; `True` marks a window whose first chunk is a burn-in."""
    groups: dict[tuple, list[tuple[Song, list[Chunk]]]] = defaultdict(list)
    for song, chunks, burn_in in windows:
        groups[(burn_in, tuple((c.frames, c.overlap) for c in chunks))].append((song, chunks))
    total, tokens = torch.zeros((), device=reader.device), 0
    for (burn_in, _), members in groups.items():
        summary = None
        for p in range(len(members[0][1])):
            codes, plan, prefix = reader.read([(song, chunks[p]) for song, chunks in members])
            if burn_in and p == 0:
                with torch.no_grad():
                    _, summary = model.teacher_forced(codes, plan, None, prefix)
                continue
            ce, summary, scored = chunk_cross_entropy(model, codes, plan, summary, prefix, generator)
            total = total + ce.sum()
            tokens += scored
    return total, tokens


def training_windows(songs: list[Song], length: int) -> list[tuple[int, int]]:
    """(song, first chunk) of every window of `length` consecutive chunks; a
    song with fewer chunks is one shorter window."""
    return [(i, first) for i, song in enumerate(songs) for first in range(max(1, len(song.chunks) - length + 1))]


@torch.no_grad()
def evaluate(
    model: FineTransformer, reader: ChunkReader, songs: list[Song], batch: int, summaries: bool = True
) -> dict[str, float]:
    """Walks every song chunk by chunk as the scheduler does, each chunk with
    the summary of the one before (none at all when `summaries` is False):
    mean cross-entropy (nats) per fine codebook ('ce_cb2'.. by codec
    codebook index, so cb2 is RVQ level 3) and over all of them ('ce')."""
    was_training = model.training
    model.eval()
    fine = model.codebooks - model.coarse
    sums, tokens, chunks = torch.zeros(fine, dtype=torch.float64), 0, 0
    carried: dict[int, torch.Tensor] = {}
    for n in range(max(len(s.chunks) for s in songs)):
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, song in enumerate(songs):
            if n < len(song.chunks):
                groups[(song.chunks[n].frames, song.chunks[n].overlap)].append(i)
        for members in groups.values():
            for part in (members[k : k + batch] for k in range(0, len(members), batch)):
                codes, plan, prefix = reader.read([(songs[i], songs[i].chunks[n]) for i in part])
                summary = torch.stack([carried[i] for i in part]) if n > 0 and summaries else None
                ce, summary, scored = chunk_cross_entropy(model, codes, plan, summary, prefix)
                carried.update(zip(part, summary))
                sums += ce.double().cpu()
                tokens += scored // len(ce)
                chunks += len(part)
    model.train(was_training)
    per_codebook = sums / max(tokens, 1)
    found = {f"ce_cb{model.coarse + j}": float(v) for j, v in enumerate(per_codebook)}
    return found | {"ce": float(per_codebook.mean()), "chunks": float(chunks), "songs": float(len(songs))}


def score(model: FineTransformer, reader: ChunkReader, songs: list[Song], batch: int) -> dict[str, float]:
    """`evaluate`, plus the cross-entropy with no summaries passed on: what
    the summaries are worth."""
    alone = evaluate(model, reader, songs, batch, summaries=False)
    return evaluate(model, reader, songs, batch) | {"ce_no_summary": alone["ce"]}


def describe(prefix: str, found: dict[str, float], baseline: dict[str, float]) -> str:
    pairs = " ".join(f"{k} {v:.3f} (unigram {baseline[k.replace('ce_', 'unigram_')]:.3f})"
                     for k, v in found.items() if k.startswith("ce_cb"))
    return (f"{prefix} ce {found['ce']:.3f} (unigram {baseline['unigram']:.3f}) without summaries "
            f"{found['ce_no_summary']:.3f}; {pairs}; over {found['chunks']:.0f} chunks of {found['songs']:.0f} songs")


@torch.no_grad()
def start_codes(model: FineTransformer, data_dir: Path, songs: list[Song], config: FineTrainConfig, log: Log) -> None:
    """A fresh run's code-side start: the codec's codebook vectors, and with
    `fresh_fine_codes` new fine code embeddings and output biases at the
    training songs' log unigram."""
    codec = corpus_codec(data_dir)
    if codec is None:
        raise ValueError(f"the fine model needs the codec's codebook vectors, and {data_dir}'s shards name no codec")
    model.set_codebooks(codec.codebook_vectors().to(model.codebook_vectors.device))
    log(f"codebook vectors from {codec.codec_id}")
    if config.fresh_fine_codes:
        size = model.config.token_space.codebook_size
        for j, level in enumerate(range(model.coarse, model.codebooks)):
            model.code_emb.weight[level * size : (level + 1) * size].normal_()
            counts = sum(torch.bincount(torch.as_tensor(s.codes[level]).long(), minlength=size) for s in songs)
            frequency = (counts.double() + 0.5) / (counts.sum() + 0.5 * size)  # every code a little
            model.head_bias[j] = frequency.log().to(model.head_bias)
        log("fine code embeddings started afresh, their outputs at the training songs' unigram")


def train(data_dir: Path, out_dir: Path, config: FineTrainConfig, conditioner: PlanConditioner,
          device: str = "cpu", log: Log = print) -> dict:
    """Trains (or resumes) into out_dir, each song's plan made by
    `conditioner` (for the corpus's token space); writes
    out_dir/temporal.safetensors with its card and returns {steps,
    wall_time_s, steps_per_s, metrics, checkpoint}."""
    torch.set_num_threads(config.threads)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dev = resolve_device(device)
    model_config = replace(config.model, token_space=corpus_token_space(config.model.token_space, data_dir))
    space = model_config.token_space
    max_frames = model_config.transformer.max_len - space.summary_tokens
    chunking = Chunking.of(config.chunk_s, config.overlap_s, config.semantic_margin_s, space, max_frames)

    torch.manual_seed(config.seed)
    model = FineTransformer(model_config).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    run = Run.start(out_dir, {"model": model}, optimizer, model_config, log, config, data_dir)
    warm_start(run, model, config.init_checkpoint, log)

    songs = by_split(load_songs(data_dir, space, chunking, conditioner, log))
    train_songs = songs["train"]
    if not train_songs:
        raise ValueError(f"{data_dir} has no training songs")
    log(describe_splits(songs) + f"; {space.codec_id} at {space.frame_rate:g} frames/s, chunks of "
        f"{chunking.frames} frames with {chunking.overlap} overlap; plans embedded by {conditioner.version}")

    fine_levels = range(space.coarse_codebooks, space.codebooks)
    entropy = [unigram_entropy(s.codes[level] for s in train_songs) for level in fine_levels]
    if run.step == 0:
        start_codes(model, data_dir, train_songs, config, log)
    baseline = {f"unigram_cb{level}": h for level, h in zip(fine_levels, entropy)}
    baseline["unigram"] = sum(entropy) / len(entropy)
    run.metrics.update(baseline)
    reader = ChunkReader(space, config.semantic_margin_s, max_frames, dev)
    windows = training_windows(train_songs, config.window_chunks)
    valid = songs["valid"][: config.eval_songs or None]
    codec = shard_codec(data_dir)

    def losses(generator: torch.Generator) -> dict[str, torch.Tensor]:
        picks = torch.randint(len(windows), (config.batch,), generator=generator).tolist()
        batch = []
        for i, first in (windows[p] for p in picks):
            song = train_songs[i]
            begin = max(0, first - 1)  # the chunk before a mid-song window, for its summary
            batch.append((song, song.chunks[begin : first + config.window_chunks], first > 0))
        total, tokens = window_loss(model, reader, batch, generator)
        return {"loss": total / tokens}

    def validate() -> None:
        if valid:
            found = score(model, reader, valid, config.batch)
            run.metrics.update({f"valid_{k}": v for k, v in found.items()})
            log(describe(f"step {run.step} valid", found, baseline))

    def card() -> ModelCard:
        made = card_for(PLUGIN, LEVEL, model_config, space, f"{PLUGIN}-{state_digest(model)[:8]}")
        return run.card(made, data_dir, config, device=str(dev), codec=codec, plan_embeddings=conditioner.version)

    def against_unigram(running: dict[str, float]) -> str:
        return f"(unigram {baseline['unigram']:.3f})"

    train_loop(run, config, Steps(losses, validate, card, describe=against_unigram), log)

    if songs["test"]:
        found = score(model, reader, songs["test"], config.batch)
        run.metrics.update({f"test_{k}": v for k, v in found.items()})
        log(describe("test", found, baseline))
    return run.finish(card(), out_dir / FINAL)
