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

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.render_cache import read_cache, render_into
from hiermusic.services.common.checkpoint import ModelCard
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.training import Run, Steps, by_split, corpus_id, describe_splits, train_loop
from hiermusic.services.semantic.caption_wordings import Captions
from hiermusic.services.semantic.text_audio_model import (
    TextAudioConfig,
    TextAudioModel,
    recall_at,
    retrieval_ranks,
)

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
    entries = shards.corpus_index(data_dir)
    a = model.config.audio
    key = json.dumps({"corpus": corpus_id(data_dir), "sample_rate": a.sample_rate, "n_fft": a.n_fft,
                      "hop_length": a.hop_length, "n_mels": a.n_mels}, sort_keys=True)
    mels = read_cache(cache, key, log)

    @torch.no_grad()
    def log_mel(split: str, labels: SongLabels, audio: np.ndarray) -> dict[str, torch.Tensor]:
        frames = model.audio.log_mel(torch.from_numpy(audio).to(model.device)[None])[0]  # [n_mels, T]
        return {labels.song_id: frames.half().cpu()}

    missing = [(split, labels) for split, labels in entries if labels.song_id not in mels]
    render_into(cache, key, mels, missing, log_mel, f"into log-mel frames (once; cached in {cache})", log)
    return [Song(labels, split, mels[labels.song_id]) for split, labels in entries]


def random_crops(songs: list[Song], frames: int, gain_db: float, generator: torch.Generator) -> torch.Tensor:
    """One random crop per song -> float32 [B, n_mels, frames]; a song shorter
    than a crop is repeated to fill it (as AudioTower.windows fills it)."""
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
    run = Run.start(out_dir, {"model": model}, optimizer, config.model, log, config, data_dir)

    cache = Path(config.mel_cache) if config.mel_cache else out_dir / MEL_CACHE
    songs = by_split(load_songs(data_dir, model, cache, log))
    train = songs["train"]
    if len(train) < 2:
        raise ValueError(f"{data_dir} has {len(train)} training songs; contrastive training needs 2+")
    log(describe_splits(songs))
    captions = Captions(songs, config.caption_variants, dev, log)
    batch = min(config.batch, len(train))

    def losses(generator: torch.Generator) -> dict[str, torch.Tensor]:
        picks = torch.randperm(len(train), generator=generator)[:batch]
        mel = random_crops([train[i] for i in picks], config.model.audio.crop_frames, config.gain_db,
                           generator).to(dev)
        text = captions.pick(picks, generator)
        return {"loss": model.info_nce(model.text(text), model.audio(mel))}

    def validate() -> None:
        if songs["valid"]:
            found = evaluate(model, songs["valid"], captions.stored["valid"])
            run.metrics.update({f"valid_{k}": v for k, v in found.items()})
            log(f"step {run.step} valid loss {found['loss']:.3f} recall@1 {found['recall@1']:.3f} "
                f"recall@10 {found['recall@10']:.3f} over {len(songs['valid'])} songs")

    def card() -> ModelCard:
        return run.card(model.card(), data_dir, config, device=str(dev), retrieval=RETRIEVAL)

    def temperature(running: dict[str, float]) -> str:
        return f"temperature {1 / float(model.logit_scale().detach()):.4f}"

    train_loop(run, config, Steps(losses, validate, card, describe=temperature), log)

    if songs["test"]:
        found = evaluate(model, songs["test"], captions.stored["test"])
        run.metrics.update({f"test_{k}": v for k, v in found.items()})
        log(f"test recall@1 {found['recall@1']:.3f} recall@10 {found['recall@10']:.3f} "
            f"over {len(songs['test'])} songs ({RETRIEVAL})")
    return run.finish(card(), out_dir / FINAL)
