"""Training and decoding cost of the bundled codec: seconds per training
step of the codec trainer's default config (batch x crop of composed songs,
all codebooks) and seconds to decode one 5 s chunk with all codebooks, as
the temporal level does for every chunk.

    .venv/bin/python bench/codec_speed.py --steps 6 --threads 1
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hiermusic.corpus.build import Item, render_item
from hiermusic.services.temporal.codec_losses import SpectrumMelLoss
from hiermusic.services.temporal.codec_stft_magnitude import StftMagnitudeCodec, StftMagnitudeModel
from hiermusic.services.temporal.codec_training import CodecTrainConfig, fit_codebooks, objective, random_crops, to_int16

CHUNK_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    audio = [render_item(Item("song", seed))[0] for seed in range(1, args.songs + 1)]
    pieces = [to_int16(a) for a in audio]
    chunk = torch.from_numpy(audio[0][: int(CHUNK_S * 24000)])[None, None]  # [1, 1, samples]
    config = CodecTrainConfig()
    print(f"batch {config.batch} x {config.crop_s:g} s, {args.threads} thread(s), {dev}")
    torch.manual_seed(0)
    model = StftMagnitudeModel(config.model).to(dev).train()
    mel_loss = SpectrumMelLoss(config.model.sample_rate, config.model.n_fft, config.mel_bands).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    crop = round(config.crop_s * model.frame_rate) * model.hop_length
    generator = torch.Generator().manual_seed(0)
    began = time.perf_counter()
    wav = random_crops(pieces, config.kmeans_crops, crop, 0.0, generator)
    fit_codebooks(model, wav, config.kmeans_iters, generator)
    kmeans_s = time.perf_counter() - began
    times, norms = [], []
    for step in range(args.steps + 1):  # the first step warms up: not timed
        wav = random_crops(pieces, config.batch, crop, config.gain_db, generator).to(dev)
        began = time.perf_counter()
        loss, _ = objective(model, mel_loss, wav, config.model.codebooks, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))))
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    codec = StftMagnitudeCodec.around(model.eval(), "bench")
    codes = codec.encode(chunk)
    decode = []
    for _ in range(6):  # the first warms up
        began = time.perf_counter()
        codec.decode(codes)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        decode.append(time.perf_counter() - began)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"{params:.2f}M params: {np.median(times[1:]):.3f} s/step (k-means start {kmeans_s:.1f} s), "
          f"grad norm {np.median(norms):.1f}, decode {CHUNK_S:g} s chunk {np.median(decode[1:]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
