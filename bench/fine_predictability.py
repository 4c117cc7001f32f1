"""How predictable are a corpus's fine codes from their neighbours, given the
codec's codebook geometry? For each fine level k of the corpus's codes (the
codec its build used, corpus/token_space.corpus_codec) this prints the
unigram cross-entropy and that of a Gaussian over the level's codebook
vectors centred where the neighbours point: the mean of the sums of fine
levels 3..k at frames t-1 and t+1, less the sum of levels 3..k-1 at t (what
a fine model that has sampled the levels below and the neighbours could
know). The Gaussian's variance is fitted on the training split (a grid of
shares of the level's variance), the figures are on the valid and test
splits. Also: how often a code repeats its previous frame's.

Why: a fine level whose neighbours' sums do not tell its vector is noise to
any fine model (the bundled codec before its fine residual was smoothed:
level 8 at its unigram); this measures it from the corpus alone in a few minutes.

    .venv/bin/python bench/fine_predictability.py --data data/corpus-b [--songs 60]

With --smoothing W... it asks the same of codes not made yet: the codec's
fine codebooks fitted again by k-means on its fine residual averaged over W
frames (codec_stft_magnitude.fine_smoothing), on the songs of a codec trainer's
audio cache (how the bundled codec's 5 frames were chosen):

    .venv/bin/python bench/fine_predictability.py --smoothing 1 3 5 9 \
        --audio-cache runs/codec/codec_audio.safetensors [--codec-checkpoint FILE]
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from safetensors.torch import load_file

from hiermusic.corpus import shards
from hiermusic.corpus.token_space import corpus_codec
from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.temporal.codebooks import kmeans
from hiermusic.services.temporal.codec import quantizer_vectors
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeCodec

SHARES = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)


def split_codes(data_dir: Path, songs: int) -> dict[str, list[torch.Tensor]]:
    """Up to `songs` songs' codes [K, T] per split ("held out": valid and test)."""
    found: dict[str, list[torch.Tensor]] = {"train": [], "held out": []}
    for name in shards.complete_shards(data_dir):
        tokens = shards.read_tokens(data_dir, name)
        for split, labels in shards.read_index(data_dir, name):
            group = found["train" if split == "train" else "held out"]
            if len(group) < songs:
                group.append(torch.from_numpy(tokens[f"{labels.song_id}/codes"].astype(np.int64)))
    return found


def neighbour_ce(songs: list[torch.Tensor], vectors: torch.Tensor, first: int, level: int,
                 log_prior: torch.Tensor, variance: float) -> float:
    """Mean cross-entropy (nats) of level `level`'s codes under the Gaussian
    around what the neighbours point to (first: the first fine level)."""
    total, count = 0.0, 0
    for codes in songs:
        sums = sum(vectors[j][codes[j]] for j in range(first, level + 1))  # [T, D]: levels first..level
        below = sums - vectors[level][codes[level]]
        centre = (sums[:-2] + sums[2:]) / 2 - below[1:-1]
        logits = -torch.cdist(centre, vectors[level]).square() / (2 * variance) + log_prior
        total += float(F.cross_entropy(logits, codes[level, 1:-1], reduction="sum"))
        count += codes.shape[1] - 2
    return total / max(count, 1)


def report(songs: dict[str, list[torch.Tensor]], vectors: torch.Tensor, coarse: int) -> None:
    """Prints each fine level's unigram and neighbour cross-entropy on the held-out songs."""
    size = vectors.shape[1]
    unigrams, gaussians = [], []
    for level in range(coarse, vectors.shape[0]):
        counts = torch.bincount(torch.cat([c[level] for c in songs["train"]]), minlength=size)
        log_prior = ((counts.double() + 0.5) / (counts.sum() + 0.5 * size)).log().float()
        held = torch.cat([c[level] for c in songs["held out"]])
        unigram = float(-log_prior[held].mean())
        spread = float(vectors[level][held].var(dim=0).sum())
        fitted = min(SHARES, key=lambda s: neighbour_ce(songs["train"][:20], vectors, coarse, level, log_prior,
                                                         s * spread))
        gaussian = neighbour_ce(songs["held out"], vectors, coarse, level, log_prior, fitted * spread)
        repeats = float(torch.cat([(c[level, 1:] == c[level, :-1]).float() for c in songs["held out"]]).mean())
        unigrams.append(unigram)
        gaussians.append(gaussian)
        print(f"RVQ {level + 1}: unigram {unigram:.3f}  neighbours {gaussian:.3f} (variance {fitted:g} of the "
              f"level's)  repeats the previous code {repeats:.1%}", flush=True)
    print(f"fine levels: unigram {np.mean(unigrams):.3f}  neighbours {np.mean(gaussians):.3f} "
          f"({1 - np.mean(gaussians) / np.mean(unigrams):.0%} below)")


def smoothed_codes(codec_file: Path, cache_file: Path, smoothing: int, songs: int,
                   iters: int) -> tuple[dict[str, list[torch.Tensor]], torch.Tensor]:
    """The codes a codec would give with its fine codebooks fitted again by
    k-means on its fine residual smoothed over `smoothing` frames (what
    `hiermusic train codec` with refit_fine_codebooks does), on the training
    excerpts of a codec trainer's audio cache: `songs` songs' excerpts to fit
    and count on, `songs` others held out. -> codes per split, vectors [K, V, D]."""
    codec = StftMagnitudeCodec(codec_file, torch.device("cpu"))
    model = codec.model.eval()
    model.config = replace(model.config, fine_smoothing=smoothing)
    cache = load_file(str(cache_file))
    keys = sorted(k for k in cache if k.startswith("train/"))
    ids = sorted({k.split("/")[1] for k in keys})
    np.random.default_rng(0).shuffle(ids)
    with torch.no_grad():
        latents = {k: model.encoder(cache[k].float()[None, None] / 32767) for k in keys
                   if k.split("/")[1] in set(ids[: 2 * songs])}  # [1, D, T] each
        coarse = model.config.coarse_codebooks
        fitted = torch.cat([model.smooth_fine(z - model.quantize(z, coarse).quantized)[0].T
                            for k, z in latents.items() if k.split("/")[1] in set(ids[:songs])])  # [N, D]
        for level in range(coarse, model.config.codebooks):
            book = model.quantizer.vq.layers[level]._codebook
            means, _ = kmeans(fitted, book.codebook_size, iters, torch.Generator().manual_seed(level))
            book.embed.copy_(means)
            fitted = fitted - means[torch.cdist(fitted, means).argmin(dim=1)]
        split = {"train": [], "held out": []}
        for key, z in latents.items():
            codes = model.quantize(z).codes[:, 0]  # [K, T]
            split["train" if key.split("/")[1] in set(ids[:songs]) else "held out"].append(codes)
    return split, quantizer_vectors(model.quantizer, model.config.codebooks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a built corpus with codec tokens")
    parser.add_argument("--songs", type=int, default=60, help="songs per split (train; valid and test together)")
    parser.add_argument("--coarse", type=int, default=2, help="levels the acoustic model writes")
    parser.add_argument("--smoothing", type=int, nargs="+",
                        help="instead of a corpus: fit the fine codebooks of --codec-checkpoint again on its "
                             "residual smoothed over each of these frame counts (odd), on --audio-cache's songs")
    parser.add_argument("--codec-checkpoint", type=Path, help="default: the bundled codec")
    parser.add_argument("--audio-cache", type=Path, help="a codec trainer's codec_audio.safetensors")
    parser.add_argument("--kmeans-iters", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.smoothing:
        if not args.audio_cache:
            parser.error("--smoothing needs --audio-cache")
        codec_file = args.codec_checkpoint or bundled_checkpoint("codec")
        for smoothing in args.smoothing:
            songs, vectors = smoothed_codes(codec_file, args.audio_cache, smoothing, args.songs, args.kmeans_iters)
            print(f"{codec_file}, fine residual smoothed over {smoothing} frames: {len(songs['train'])} excerpts "
                  f"fitted on, {len(songs['held out'])} held out")
            report(songs, vectors, args.coarse)
        return
    if not args.data:
        parser.error("give --data (or --smoothing with --audio-cache)")
    codec = corpus_codec(args.data)
    if codec is None:
        raise SystemExit(f"{args.data}'s shards name no codec")
    songs = split_codes(args.data, args.songs)
    print(f"{args.data}: codec {codec.codec_id}, {len(songs['train'])} training songs, "
          f"{len(songs['held out'])} held out")
    report(songs, codec.codebook_vectors(), args.coarse)


if __name__ == "__main__":
    main()
