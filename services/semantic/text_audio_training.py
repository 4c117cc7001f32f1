"""Trains the joint text–audio space on a built corpus: each song's caption
against random crops of its audio, symmetric InfoNCE.

Songs are never stored as audio, so each one is rendered once (corpus.build
re-renders deterministically) and kept as float16 log-mel frames in a cache
file (~0.5 GB for the 21-hour corpus, versus ~8.6 GB of waveforms); a step
then only crops frames. A composed song's caption is also reworded a few
times (corpus.captions words the same spec many ways) and each step picks one,
so the text side cannot memorise one sentence per song. Captions go through
the frozen MiniLM once; only the projection and the audio tower train.

Resumable: every `checkpoint_every` steps a complete checkpoint directory
(weights + card + optimizer state, all safetensors/JSON) is renamed into
place, and a rerun with the same out_dir continues from the newest one. The
batch and dropout masks of step s come from the generator seeded with
(seed, s), so a resumed run trains exactly as an uninterrupted one.

Retrieval metrics are text -> audio among all songs of a split, each song
embedded whole (the mean of the crop_s windows that cover it), which is how
evaluation scores a generated piece."""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from corpus import shards
from corpus.labels import SongLabels
from services.common.checkpoint import ModelCard, save_checkpoint
from services.common.nn import resolve_device
from services.common.training import Schedule, corpus_id, resume, save_step
from services.semantic.text_audio_model import (
    TextAudioConfig,
    TextAudioModel,
    recall_at,
    retrieval_ranks,
)
from services.semantic.text_tower import encode_sentences

FINAL = "text_audio.safetensors"
MEL_CACHE = "mels.safetensors"
RETRIEVAL = "text -> audio among the split's songs, whole-song embeddings"

Log = Callable[[str], None]


@dataclass
class TextAudioTrainConfig:
    model: TextAudioConfig = field(default_factory=TextAudioConfig)  # crop length: model.audio.crop_s
    steps: int = 6000
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 200
    grad_clip: float = 1.0
    gain_db: float = 6.0  # random level change per crop: captions say nothing about loudness
    caption_variants: int = 8  # wordings per composed training song, the stored caption first; 1 = stored only
    eval_every: int = 500
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int = 1
    mel_cache: str = ""  # empty: out_dir/mels.safetensors; point several runs at one file to share it


@dataclass
class Song:
    labels: SongLabels
    split: str
    mel: torch.Tensor  # float16 [n_mels, T] log-mel frames


def load_songs(data_dir: Path, model: TextAudioModel, cache: Path, log: Log) -> list[Song]:
    """Every song of the corpus with its log-mel frames, from `cache` when it
    was made from this corpus with these mel settings, else rendered now."""
    from corpus.build import audio_for

    entries = [(split, labels) for name in shards.complete_shards(data_dir) for split, labels in
               shards.read_index(data_dir, name)]
    if not entries:
        raise ValueError(f"{data_dir} holds no complete corpus shards")
    a = model.config.audio
    key = json.dumps({"corpus": corpus_id(data_dir), "sample_rate": a.sample_rate, "n_fft": a.n_fft,
                      "hop_length": a.hop_length, "n_mels": a.n_mels}, sort_keys=True)
    mels: dict[str, torch.Tensor] = {}
    if cache.is_file():
        from safetensors import safe_open

        with safe_open(str(cache), "pt") as f:
            made_from = (f.metadata() or {}).get("key")
        if made_from == key:
            mels = load_file(str(cache))
        else:
            log(f"mel cache {cache} was made from another corpus or mel settings; rebuilding it")
    missing = [labels for _, labels in entries if labels.song_id not in mels]
    if missing:
        log(f"rendering {len(missing)} songs into log-mel frames (once; cached in {cache})")
        started = time.monotonic()
        with torch.no_grad():
            for i, labels in enumerate(missing, 1):
                audio = torch.from_numpy(audio_for(labels)).to(model.device)
                mels[labels.song_id] = model.audio.log_mel(audio[None])[0].half().cpu()  # [n_mels, T]
                if i % 50 == 0 or i == len(missing):
                    log(f"  {i}/{len(missing)} songs, {time.monotonic() - started:.0f}s")
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        save_file({k: v.contiguous() for k, v in mels.items()}, str(tmp), metadata={"key": key})
        os.replace(tmp, cache)
    return [Song(labels, split, mels[labels.song_id]) for split, labels in entries]


def caption_variants(labels: SongLabels, count: int) -> list[str]:
    """The stored caption, then up to count - 1 other wordings of the same
    composed song (from its spec, with rngs the build never uses). Scores and
    user audio have only their stored caption."""
    if labels.source != "synthetic" or count <= 1:
        return [labels.caption]
    from corpus.arranger import CAPTION_STREAM
    from corpus.build import item_for
    from corpus.captions import caption
    from corpus.song_spec import compose_spec

    spec = compose_spec(item_for(labels).key)  # refuses songs of another composer version
    others = [caption(spec, np.random.default_rng([spec.seed, CAPTION_STREAM, i])) for i in range(1, count)]
    return list(dict.fromkeys([labels.caption, *others]))


def random_crops(songs: list[Song], frames: int, gain_db: float, generator: torch.Generator) -> torch.Tensor:
    """One random crop per song -> float32 [B, n_mels, frames]; a song shorter
    than a crop is repeated to fill it."""
    crops = []
    for song in songs:
        mel = song.mel
        if mel.shape[-1] < frames:
            mel = mel.repeat(1, -(-frames // mel.shape[-1]))
        start = int(torch.randint(0, mel.shape[-1] - frames + 1, (1,), generator=generator))
        crops.append(mel[:, start : start + frames].float())
    batch = torch.stack(crops)  # [B, n_mels, frames]
    gain = (torch.rand(len(songs), 1, 1, generator=generator) * 2 - 1) * gain_db
    return batch + gain * (math.log(10) / 10)  # dB of power -> natural log of the mel power


def learning_rate_schedule(config: TextAudioTrainConfig) -> Schedule:
    return Schedule(config.lr, config.steps, config.warmup)


@torch.no_grad()
def evaluate(model: TextAudioModel, songs: list[Song], sentences: torch.Tensor) -> dict[str, float]:
    """InfoNCE and text -> audio recall among `songs`, whole-song embeddings.
    `sentences` are their MiniLM caption embeddings [N, text_dim]."""
    was_training = model.training
    model.eval()
    text = model.text(sentences)  # [N, E]
    audio = torch.stack([model.audio.embed_frames(s.mel.float().to(model.device)) for s in songs])  # [N, E]
    ranks = retrieval_ranks(text, audio)
    metrics = {
        "loss": float(model.info_nce(text, audio)),
        "recall@1": recall_at(ranks, 1),
        "recall@10": recall_at(ranks, 10),
        "mean_cosine": float((text * audio).sum(-1).mean()),
        "songs": float(len(songs)),
    }
    model.train(was_training)
    return metrics


def train_text_audio(
    data_dir: Path, out_dir: Path, config: TextAudioTrainConfig, device: str = "cpu", log: Log = print
) -> dict:
    """Trains (or resumes) into out_dir; writes out_dir/text_audio.safetensors
    with its card and returns {steps, wall_time_s, steps_per_s, metrics, checkpoint}."""
    torch.set_num_threads(config.threads)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    model = TextAudioModel(config.model).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    step, wall_before, metrics = 0, 0.0, {}
    if card := resume(out_dir, {"model": model}, {"model": optimizer}, asdict(config.model)):
        step, wall_before, metrics = card.steps, card.wall_time_s, dict(card.metrics)
        log(f"resuming from {out_dir / 'checkpoints'} at step {step}")

    cache = Path(config.mel_cache) if config.mel_cache else out_dir / MEL_CACHE
    songs = load_songs(data_dir, model, cache, log)
    by_split = {name: [s for s in songs if s.split == name] for name in ("train", "valid", "test")}
    if len(by_split["train"]) < 2:
        raise ValueError(f"{data_dir} has {len(by_split['train'])} training songs; contrastive training needs 2+")
    log("songs: " + ", ".join(f"{name} {len(group)}" for name, group in by_split.items()))
    # Validation and test match each song's stored caption only.
    sentences = {name: encode_sentences([s.labels.caption for s in by_split[name]], dev)
                 for name in ("valid", "test") if by_split[name]}  # [N, text_dim], frozen
    train = by_split["train"]
    variants = [caption_variants(s.labels, config.caption_variants) for s in train]
    train_text = encode_sentences([c for v in variants for c in v], dev)  # [sum of variants, text_dim]
    counts = torch.tensor([len(v) for v in variants])  # [N]
    first = torch.cumsum(counts, 0) - counts  # [N], row of each song's stored caption
    log(f"{len(train_text)} training captions for {len(train)} songs")
    batch = min(config.batch, len(train))
    frames = config.model.audio.crop_frames

    def card() -> ModelCard:
        made = model.card(trained=step > 0, data=corpus_id(data_dir), steps=step, metrics=dict(metrics),
                          wall_time_s=wall_before + time.monotonic() - started)
        # How it was trained rides along in the config; loading the model ignores it.
        training = {k: v for k, v in asdict(config).items() if k != "model"}
        made.config["training"] = training | {"device": str(dev), "retrieval": RETRIEVAL}
        return made

    def validate() -> None:
        if by_split["valid"]:
            found = evaluate(model, by_split["valid"], sentences["valid"])
            metrics.update({f"valid_{k}": v for k, v in found.items()})
            log(f"step {step} valid loss {found['loss']:.3f} recall@1 {found['recall@1']:.3f} "
                f"recall@10 {found['recall@10']:.3f} over {len(by_split['valid'])} songs")

    schedule = learning_rate_schedule(config)
    model.train()
    started, first_step, running = time.monotonic(), step, 0.0
    while step < config.steps:
        # The global generator, so dropout masks too depend on (seed, step) only.
        generator = torch.manual_seed(config.seed * 1_000_003 + step)
        picks = torch.randperm(len(train), generator=generator)[:batch]
        mel = random_crops([train[i] for i in picks], frames, config.gain_db, generator).to(dev)
        wording = first[picks] + (torch.rand(len(picks), generator=generator) * counts[picks]).long()  # [B]
        loss = model.info_nce(model.text(train_text[wording.to(dev)]), model.audio(mel))
        schedule.apply(optimizer, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        value = float(loss.detach())
        running = value if step == first_step + 1 else 0.95 * running + 0.05 * value
        metrics["train_loss"] = running
        if step % 50 == 0 or step == config.steps:
            rate = (step - first_step) / (time.monotonic() - started)
            temperature = 1 / float(model.logit_scale().detach())
            log(f"step {step}/{config.steps} loss {running:.3f} temperature {temperature:.4f} "
                f"lr {schedule.at(step - 1):.2e} {rate:.2f} steps/s")
        if step % config.eval_every == 0 or step == config.steps:
            validate()
        if step % config.checkpoint_every == 0 or step == config.steps:
            saved = save_step(out_dir, {"model": model}, {"model": optimizer}, card(), config.keep_checkpoints)
            log(f"checkpoint {saved}")
    run_s = time.monotonic() - started

    if by_split["test"]:
        found = evaluate(model, by_split["test"], sentences["test"])
        metrics.update({f"test_{k}": v for k, v in found.items()})
        log(f"test recall@1 {found['recall@1']:.3f} recall@10 {found['recall@10']:.3f} "
            f"over {len(by_split['test'])} songs ({RETRIEVAL})")
    final_card = card()
    save_checkpoint(model, final_card, out_dir / FINAL)
    return {"steps": step, "wall_time_s": final_card.wall_time_s, "metrics": dict(metrics),
            "checkpoint": str(out_dir / FINAL), "steps_per_s": (step - first_step) / run_s if step > first_step else 0.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="train the joint text–audio space on a built corpus")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--device", default="cpu")
    defaults = TextAudioTrainConfig()
    options = {"steps": int, "batch": int, "lr": float, "eval_every": int, "checkpoint_every": int,
               "caption_variants": int, "seed": int, "threads": int, "mel_cache": str}
    for name, kind in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    config = TextAudioTrainConfig(**{name: getattr(args, name) for name in options})
    print(json.dumps(train_text_audio(args.data_dir, args.out_dir, config, args.device), indent=2))

if __name__ == "__main__":
    main()
