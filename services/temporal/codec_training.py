"""Trains the bundled codec (codec_stft_magnitude.py) on a built corpus:
random crops of the training songs through encoder, residual quantizer and
decoder, with L1 between the decoder's log magnitude and the crop's, log-mel
L1 of the spectrum it predicts and the quantizer's commitment penalty.

Songs are never stored as audio, so each one is rendered once (corpus.build
re-renders deterministically) and a bounded excerpt of it is kept as int16 in
a cache file: `seconds_per_song` seconds in `excerpts` evenly spaced pieces,
~1.4 MB a song at 30 s, instead of the 21-hour corpus's 7 GB of float32.
Validation and test songs keep one clip from their middle, the clip that
codec_fidelity.py measures.

Quantizer dropout: a share of the batches goes through a random number of
the first 1..K residual levels only, so the decoder learns to make audio from
the coarse levels alone (what the acoustic level's tokens carry) as well as
from all of them. Codebooks are EMA buffers, started from k-means on the
frames of `kmeans_crops` crops, and a code no frame picks any more restarts
on a random frame of the batch (codebooks.py).

Resumable: every `checkpoint_every` steps a complete checkpoint directory
(weights, codebooks, card, optimizer state; safetensors/JSON) is renamed into
place, and a rerun with the same out_dir continues from the newest one. The
batch, the number of levels and the quantizer's random choices of step s come
from the generator seeded with (seed, s), so a resumed run trains exactly as
an uninterrupted one.

`decoder_only` trains the decoder of a trained codec (`init_checkpoint`)
again with its encoder and quantizer frozen: the codes, and so the token
space the acoustic and temporal models were trained on, stay the same
(codec_stft_magnitude.codes_digest). `low_band_weight` weighs the
log-magnitude L1 up below `low_band_hz`: the 64-band mel loss's bands are
~5 semitones wide around C3, so it cannot tell a bass note from its
neighbours, and a codec trained on it moved every tone below C#4 by 1-4
semitones (bench/codec_pitch.py). `chroma_weight` adds an L1 between the
chroma of the predicted and the true spectrum (codec_losses.py): the pitch
classes that tell a key, which a codec trained without it moved in 13 of
30 corpus-style songs, its decoder trained again with it in 9
(bench/codec_keys.py)."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.render_cache import read_cache, render_into
from hiermusic.services.common.checkpoint import ModelCard
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.level import card_for, state_digest
from hiermusic.services.common.nn import resolve_device
from hiermusic.services.common.training import SPLITS, Run, Steps, corpus_id, other_losses, train_loop, warm_start
from hiermusic.services.temporal.codebooks import DeadCodeRestarts, kmeans_init
from hiermusic.services.temporal.codec_fidelity import fidelity_of
from hiermusic.services.temporal.codec_losses import SpectrumChromaLoss, SpectrumMelLoss
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeCodec, StftMagnitudeConfig, StftMagnitudeModel
from hiermusic.services.temporal.spectral_basis import fit_spectral_bridge, octave_weights

FINAL = "codec.safetensors"
AUDIO_CACHE = "codec_audio.safetensors"
LISTEN = "listen"
LEVEL = "codec"
COARSE = TokenSpaceConfig().coarse_codebooks  # what the acoustic level's tokens alone must decode from
FULL_SCALE = 32767.0  # int16 <-> float

Log = Callable[[str], None]


@dataclass
class CodecTrainConfig:
    model: StftMagnitudeConfig = field(default_factory=StftMagnitudeConfig)
    steps: int = 20000
    batch: int = 8
    crop_s: float = 1.0
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 500
    grad_clip: float = 100.0  # a guard against spikes only
    gain_db: float = 6.0  # random level change per crop, so the codec does not learn the corpus's loudness
    # A fresh run's codebooks start by k-means on the frames of this many
    # crops: 1600 frames for 1024 codes at 1 s.
    kmeans_crops: int = 32
    kmeans_iters: int = 20
    # A code whose EMA use falls below this many frames a batch restarts on a
    # random frame (uniform use is batch * crop frames / codebook size: 0.39
    # at 8 x 1 s over 1024 codes); 0 never restarts.
    dead_code_below: float = 0.05
    quantizer_dropout: float = 0.5  # share of batches through a random 1..K levels; the rest use all K
    magnitude_weight: float = 1.0  # the log-magnitude L1 (the decoder makes no waveform in training)
    # That L1 weighed this many times over the bins below low_band_hz (then
    # normalised to the same mean weight): where the mel loss cannot hear pitch.
    low_band_weight: float = 1.0
    low_band_hz: float = 500.0
    # That L1 weighed per bin by spectral_basis.octave_weights instead (each
    # octave as much as any other), as the spectral bridge's components are.
    octave_weighted: bool = False
    # The chroma L1 (codec_losses.SpectrumChromaLoss): the pitch classes a
    # key is heard from, which the mel loss cannot resolve.
    chroma_weight: float = 0.0
    mel_weight: float = 1.0
    commitment_weight: float = 1.0
    mel_bands: int = 64
    seconds_per_song: float = 30.0  # cached per training song: bounds the cache (~1.4 MB a song as int16)
    excerpts: int = 3  # evenly spaced pieces those seconds are cut into
    eval_songs: int = 16  # valid and test songs measured (one clip each)
    eval_clip_s: float = 5.0  # the temporal level decodes 5 s chunks
    listen_clips: int = 3  # test clips written to out_dir/listen at the end
    log_every: int = 50
    eval_every: int = 1000
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int = 1
    audio_cache: str = ""  # empty: out_dir/codec_audio.safetensors; point several runs at one file to share it
    init_checkpoint: str = ""  # start from this codec's weights (an earlier run's) instead of random ones
    decoder_only: bool = False  # train init_checkpoint's decoder alone: its encoder and quantizer, so its codes, stay
    # With decoder_only: first fit the fine levels' codebooks again by k-means
    # on `kmeans_crops` crops (after the model's `fine_smoothing`), keeping the
    # encoder and the coarse levels, so the coarse codes, and the acoustic
    # model trained on them, stay; the fine codes, so the codec id, change.
    refit_fine_codebooks: bool = False

    def __post_init__(self) -> None:
        if self.refit_fine_codebooks and not self.decoder_only:
            raise ValueError("refit_fine_codebooks keeps the encoder and the coarse codebooks: set decoder_only")
        if self.octave_weighted and self.low_band_weight != 1.0:
            raise ValueError("octave_weighted and low_band_weight both weigh the bins: set one")
        if self.decoder_only and not self.init_checkpoint:
            raise ValueError("decoder_only trains the decoder behind a trained codec's encoder and quantizer: "
                             "give init_checkpoint")


@dataclass
class CorpusAudio:
    """What the trainer keeps of the corpus, mono at the codec's rate."""

    train: list[torch.Tensor]  # int16 [samples] excerpts of the training songs
    valid: list[tuple[str, np.ndarray]]  # (song id, float32 middle clip)
    test: list[tuple[str, np.ndarray]]


def excerpts(audio: np.ndarray, length: int, count: int) -> list[np.ndarray]:
    """`count` pieces totalling at most `length` samples, centred at evenly
    spaced points of the song (the whole song when it is no longer)."""
    if len(audio) <= length:
        return [audio]
    piece = length // count
    centres = [(i + 0.5) * len(audio) / count for i in range(count)]
    return [audio[int(c) - piece // 2 : int(c) - piece // 2 + piece] for c in centres]


def middle(audio: np.ndarray, length: int) -> np.ndarray:
    start = max(0, (len(audio) - length) // 2)
    return audio[start : start + length]


def to_int16(audio: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.round(np.clip(audio, -1.0, 1.0) * FULL_SCALE).astype(np.int16))


def load_audio(data_dir: Path, config: CodecTrainConfig, cache: Path, log: Log) -> CorpusAudio:
    """The corpus audio the run needs, from `cache` when it was made from this
    corpus with these settings, else rendered now (each song once)."""
    entries = shards.corpus_index(data_dir)
    wanted: dict[str, list[SongLabels]] = {name: [labels for split, labels in entries if split == name]
                                           for name in SPLITS}
    for name in ("valid", "test"):
        wanted[name] = wanted[name][: config.eval_songs]
    sr = config.model.sample_rate
    key = json.dumps({"corpus": corpus_id(data_dir), "sample_rate": sr, "seconds_per_song": config.seconds_per_song,
                      "excerpts": config.excerpts, "eval_clip_s": config.eval_clip_s}, sort_keys=True)
    stored = read_cache(cache, key, log)

    def first_key(split: str, labels: SongLabels) -> str:
        return f"{split}/{labels.song_id}/0"

    def keep(split: str, labels: SongLabels, audio: np.ndarray) -> dict[str, torch.Tensor]:
        kept = (excerpts(audio, int(config.seconds_per_song * sr), config.excerpts) if split == "train"
                else [middle(audio, int(config.eval_clip_s * sr))])
        return {f"{split}/{labels.song_id}/{j}": to_int16(piece) for j, piece in enumerate(kept)}

    missing = [(split, labels) for split, group in wanted.items() for labels in group
               if first_key(split, labels) not in stored]
    render_into(cache, key, stored, missing, keep,
                f"(once; {config.seconds_per_song:g} s of each training song cached in {cache})", log)

    def pieces(split: str, labels: SongLabels) -> list[torch.Tensor]:
        found, j = [], 0
        while (k := f"{split}/{labels.song_id}/{j}") in stored:
            found.append(stored[k])
            j += 1
        return found

    def clip(split: str, labels: SongLabels) -> tuple[str, np.ndarray]:
        return labels.song_id, stored[first_key(split, labels)].numpy().astype(np.float32) / FULL_SCALE

    return CorpusAudio(
        train=[p for labels in wanted["train"] for p in pieces("train", labels)],
        valid=[clip("valid", labels) for labels in wanted["valid"]],
        test=[clip("test", labels) for labels in wanted["test"]],
    )


@torch.no_grad()
def fit_codebooks(model: StftMagnitudeModel, wav: torch.Tensor, iters: int, generator: torch.Generator,
                  first: int = 0, batch: int = 64) -> None:
    """Fits the codebooks of levels `first`.. by k-means (codebooks.kmeans_init)
    to what reaches them from crops wav [N, 1, samples]: the coarse levels
    the latent, the fine ones the residual after the coarse levels, smoothed
    as the model quantizes it. Levels before `first` keep their codebooks."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # a training pass through the quantizer would move its EMA codebooks
    latent = torch.cat([model.encoder(wav[i : i + batch].to(device)) for i in range(0, len(wav), batch)])  # [N, D, T]
    coarse = model.config.coarse_codebooks
    if first < coarse:
        residual = kmeans_init(model.quantizer, latent, iters, generator, range(first, coarse))
    else:
        residual = latent - model.quantize(latent, coarse).quantized if coarse else latent
    kmeans_init(model.quantizer, model.smooth_fine(residual), iters, generator,
                range(max(first, coarse), model.config.codebooks))
    model.train(was_training)


def random_crops(pieces: list[torch.Tensor], batch: int, crop: int, gain_db: float,
                 generator: torch.Generator) -> torch.Tensor:
    """`batch` crops at random places of pieces drawn in proportion to their
    length -> float32 [B, 1, crop]; a piece shorter than a crop is repeated to fill it."""
    lengths = torch.tensor([len(p) for p in pieces], dtype=torch.float64)  # [P]
    which = torch.multinomial(lengths, batch, replacement=True, generator=generator)  # [B]
    crops = []
    for w in which.tolist():
        piece = pieces[w]
        if len(piece) < crop:
            piece = piece.repeat(-(-crop // len(piece)))
        start = int(torch.randint(0, len(piece) - crop + 1, (1,), generator=generator))
        crops.append(piece[start : start + crop])
    wav = torch.stack(crops).float()[:, None] / FULL_SCALE  # [B, 1, crop]
    gain = (torch.rand(batch, 1, 1, generator=generator) * 2 - 1) * gain_db
    return wav * 10 ** (gain / 20)


def band_weights(model: StftMagnitudeModel, config: CodecTrainConfig) -> torch.Tensor | None:
    """Per-bin weights [F, 1] of the log-magnitude L1 (mean 1), or None
    where every bin weighs the same."""
    if config.octave_weighted:
        return octave_weights(model.config.n_fft, model.config.sample_rate)[:, None]
    if config.low_band_weight == 1.0:
        return None
    freqs = torch.fft.rfftfreq(model.config.n_fft, 1.0 / model.config.sample_rate)
    weights = 1.0 + (config.low_band_weight - 1.0) * (freqs < config.low_band_hz).float()
    return (weights / weights.mean())[:, None]


def chroma_loss_for(model: StftMagnitudeModel, config: CodecTrainConfig) -> nn.Module | None:
    if config.chroma_weight == 0.0:
        return None
    return SpectrumChromaLoss(model.config.sample_rate, model.config.n_fft)


def objective(model: StftMagnitudeModel, mel_loss: nn.Module, wav: torch.Tensor, levels: int,
              config: CodecTrainConfig, weights: torch.Tensor | None = None,
              chroma_loss: nn.Module | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch wav [B, 1, N] through the first `levels`
    codebooks, and its unweighted parts: log-magnitude L1 (per bin
    `weights`, band_weights), mel L1 of the spectrum the decoder predicts
    and, with a `chroma_loss`, chroma L1."""
    out, q = model(wav, levels)  # log magnitude [B, F, T]
    target = model.decoder.target_log_magnitude(wav)  # [B, F, T]
    error = (out - target).abs()
    parts = {"mag_l1": (error * weights).mean() if weights is not None else error.mean(),
             "mel_l1": mel_loss(out, target)}
    if chroma_loss is not None:
        parts["chroma_l1"] = chroma_loss(out, target)
    parts["commitment"] = q.penalty
    loss = (config.magnitude_weight * parts["mag_l1"] + config.mel_weight * parts["mel_l1"]
            + config.commitment_weight * parts["commitment"])
    if "chroma_l1" in parts:
        loss = loss + config.chroma_weight * parts["chroma_l1"]
    return loss, parts


def measure(model: StftMagnitudeModel, clips: list[tuple[str, np.ndarray]], clip_s: float,
            prefix: str) -> dict[str, float]:
    """SI-SNR and mel distance with all codebooks and with the coarse ones,
    through the codec plugin as the temporal level runs it
    ({prefix}_si_snr_db_{K}, {prefix}_mel_distance_{K}), and the share of each
    codebook the clips use ({prefix}_codes_used; codes never chosen are capacity lost)."""
    was_training = model.training
    model.eval()
    codec = StftMagnitudeCodec.around(model, "in-training")
    found = fidelity_of(codec, [a for _, a in clips], COARSE, clip_s)
    codes = torch.cat([codec.encode(torch.from_numpy(a)[None, None])[0] for _, a in clips], dim=1)  # [K, frames]
    used = float(np.mean([len(torch.unique(level)) / codec.codebook_size for level in codes]))
    model.train(was_training)
    return {f"{prefix}_{name}_{k.removeprefix('codebooks_')}": v
            for k, scores in found.items() if k.startswith("codebooks_") for name, v in scores.items()} | {
        f"{prefix}_codes_used": round(used, 4)}


def write_listening(model: StftMagnitudeModel, clips: list[tuple[str, np.ndarray]], out: Path) -> list[Path]:
    """Each clip as out/NN-<song>-original.wav, -8cb.wav (all codebooks) and
    -2cb.wav (coarse only), 24 kHz 16-bit, for listening to."""
    model.eval()
    codec = StftMagnitudeCodec.around(model, "listen")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (song_id, audio) in enumerate(clips):
        stem = f"{i:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', song_id)[:60]}"
        codes = codec.encode(torch.from_numpy(audio)[None, None])  # [1, K, T]
        versions = {"original": audio} | {f"{k}cb": codec.decode(codes[:, :k])[0, 0, : len(audio)].cpu().numpy()
                                          for k in (codec.codebooks, COARSE)}
        for name, wav in versions.items():
            path = out / f"{stem}-{name}.wav"
            sf.write(path, np.clip(wav, -1.0, 1.0), codec.sample_rate, subtype="PCM_16")
            written.append(path)
    return written


def train(data_dir: Path, out_dir: Path, config: CodecTrainConfig, device: str = "cpu", log: Log = print) -> dict:
    """Trains (or resumes) into out_dir; writes out_dir/codec.safetensors with
    its card and out_dir/listen/*.wav, and returns {steps, wall_time_s,
    steps_per_s, metrics, checkpoint}."""
    torch.set_num_threads(config.threads)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    model = StftMagnitudeModel(config.model).to(dev)
    mel_loss = SpectrumMelLoss(config.model.sample_rate, config.model.n_fft, config.mel_bands).to(dev)
    weights = band_weights(model, config)
    weights = weights.to(dev) if weights is not None else None
    chroma_loss = chroma_loss_for(model, config)
    chroma_loss = chroma_loss.to(dev) if chroma_loss is not None else None
    # Codebooks are EMA buffers, so the optimizer sees encoder and decoder only.
    trained = model.decoder if config.decoder_only else model
    optimizer = torch.optim.AdamW(trained.parameters(), lr=config.lr, betas=(0.8, 0.99),
                                  weight_decay=config.weight_decay)
    run = Run.start(out_dir, {"model": model}, optimizer, config.model, log, config, data_dir)
    warm_start(run, model, config.init_checkpoint, log)
    if config.decoder_only:
        for p in [*model.encoder.parameters(), *model.quantizer.parameters()]:
            p.requires_grad_(False)

    cache = Path(config.audio_cache) if config.audio_cache else out_dir / AUDIO_CACHE
    audio = load_audio(data_dir, config, cache, log)
    if not audio.train:
        raise ValueError(f"{data_dir} has no training songs")
    seconds = sum(len(p) for p in audio.train) / config.model.sample_rate
    log(f"training audio: {len(audio.train)} excerpts, {seconds / 3600:.2f} h; "
        f"valid {len(audio.valid)} clips, test {len(audio.test)} clips")
    crop = max(1, round(config.crop_s * model.frame_rate)) * model.hop_length  # whole frames
    codebooks = config.model.codebooks
    space = replace(TokenSpaceConfig(), sample_rate=config.model.sample_rate, frame_rate=model.frame_rate,
                    codebooks=codebooks, codebook_size=config.model.codebook_size)

    fresh = not config.init_checkpoint  # else its codebooks came with it
    if run.step == 0 and (fresh or config.refit_fine_codebooks):
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 - 1)  # no training step uses it
        wav = random_crops(audio.train, config.kmeans_crops, crop, config.gain_db, generator)
        first = config.model.coarse_codebooks if config.refit_fine_codebooks else 0
        if fresh and config.model.spectral_bridge:
            held = fit_spectral_bridge(model, wav)
            log(f"spectral bridge: the principal components of {len(wav)} crops' frames "
                f"({held:.1%} of their variance in {config.model.dimension})")
        fit_codebooks(model, wav, config.kmeans_iters, generator, first)
        log(f"codebooks of levels {first + 1}-{codebooks} fitted by k-means on {config.kmeans_crops} crops"
            + (f" (the fine levels' residual smoothed over {config.model.fine_smoothing} frames)"
               if config.model.fine_smoothing > 1 and first < codebooks else ""))

    def losses(generator: torch.Generator) -> dict[str, torch.Tensor]:
        # `generator` is the global one, so the quantizer's k-means and code
        # choices too depend on (seed, step) only.
        wav = random_crops(audio.train, config.batch, crop, config.gain_db, generator).to(dev)  # [B, 1, crop]
        levels = codebooks
        if float(torch.rand(1, generator=generator)) < config.quantizer_dropout:
            levels = int(torch.randint(1, codebooks + 1, (1,), generator=generator))
        if config.decoder_only:  # in eval mode the quantizer's EMA leaves the codebooks as they are
            model.encoder.eval()
            model.quantizer.eval()
        loss, parts = objective(model, mel_loss, wav, levels, config, weights, chroma_loss)
        return {"loss": loss} | parts

    restarts = (DeadCodeRestarts(model.quantizer, config.dead_code_below)
                if config.dead_code_below > 0 and not config.decoder_only else None)
    restarted = 0  # codes restarted since the last progress line

    def restart_dead_codes(generator: torch.Generator) -> None:
        nonlocal restarted
        restarted += restarts.restart(generator)

    def describe(running: dict[str, float]) -> str:
        nonlocal restarted
        line = f"{other_losses(running)} codes restarted {restarted}"
        restarted = 0
        return line

    def validate() -> None:
        if audio.valid:
            found = measure(model, audio.valid, config.eval_clip_s, "valid")
            run.metrics.update(found)
            log(f"step {run.step} valid " + " ".join(f"{k.removeprefix('valid_')} {v:.3f}" for k, v in found.items())
                + f" over {len(audio.valid)} clips")

    def card() -> ModelCard:
        made = card_for(StftMagnitudeCodec.name, LEVEL, config.model, space,
                        f"{StftMagnitudeCodec.name}-{run.step}-{state_digest(model)[:8]}")
        return run.card(made, data_dir, config, device=str(dev))

    after_step = restart_dead_codes if restarts is not None else None
    train_loop(run, config, Steps(losses, validate, card, describe, after_step, config.log_every), log)

    if audio.test:
        found = measure(model, audio.test, config.eval_clip_s, "test")
        run.metrics.update(found)
        log("test " + " ".join(f"{k.removeprefix('test_')} {v:.3f}" for k, v in found.items())
            + f" over {len(audio.test)} clips of {config.eval_clip_s:g} s")
        listen = write_listening(model, audio.test[: config.listen_clips], out_dir / LISTEN)
        log(f"wrote {len(listen)} files to listen to into {out_dir / LISTEN}")
    return run.finish(card(), out_dir / FINAL)
