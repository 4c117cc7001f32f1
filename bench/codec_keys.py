"""Does a codec keep the key of a song? Corpus-style songs (composed,
arranged and synthesized as the corpus builder does, from `--first-seed`
on, optionally one style only) go through the codec at all its codebooks,
and the evaluation's key measure (evaluation/tonality.py) hears the first
`--seconds` as synthesized and as decoded. Prints each song's labelled,
synthesized and decoded key and mode, then how often the codec kept the
mode and the key heard as synthesized: bench/codec_pitch.py says which
notes move, this says what that does to the key a listener hears.

    .venv/bin/python bench/codec_keys.py [--style classical] [--songs 12] [--codec-checkpoint FILE]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.codec_tokens import encode_audio, load_codec
from hiermusic.corpus.song_spec import STYLES, compose_spec
from hiermusic.corpus.synth import render
from hiermusic.evaluation.tonality import KeyEstimate, estimate_key
from hiermusic.services.common.bootstrap import bundled_checkpoint

SR = 24000


def heard(estimate: KeyEstimate) -> str:
    return f"{estimate.key} {estimate.mode}" if estimate.key else f"no key ({estimate.reason})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", choices=STYLES, help="only songs of this style (default: any)")
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=20000, help="past the corpus builds' seeds")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--codec-plugin", default="stft_magnitude")
    parser.add_argument("--codec-checkpoint", help="default: the bundled codec weights")
    args = parser.parse_args()
    codec = load_codec(args.codec_plugin, args.codec_checkpoint or bundled_checkpoint("codec"))
    songs = mode_kept = key_kept = 0
    seed = args.first_seed
    while songs < args.songs:
        performance, labels = arrange(compose_spec(seed))
        seed += 1
        if args.style and labels.style != args.style:
            continue
        audio = render(performance, seed - 1)[: int(args.seconds * SR)].astype(np.float32)
        codes = torch.from_numpy(encode_audio(codec, audio).astype(np.int64))[None]
        with torch.inference_mode():
            decoded = codec.decode(codes)[0, 0].cpu().numpy()
        synth, coded = estimate_key(audio), estimate_key(decoded)
        songs += 1
        mode_kept += coded.mode == synth.mode
        key_kept += (coded.key, coded.mode) == (synth.key, synth.mode)
        print(f"seed {seed - 1} {labels.style:<10} labelled {labels.key} {labels.mode:<10} "
              f"synthesized {heard(synth):<10} decoded {heard(coded)}", flush=True)
    print(f"of {songs} songs the codec kept the mode heard as synthesized {mode_kept} times, the key {key_kept} times")


if __name__ == "__main__":
    main()
