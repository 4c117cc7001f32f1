"""How well the evaluation measures recover what corpus songs are known to
hold (labels from their spec), and what they say of signals with no tempo,
key or structure. Prints the figures the README quotes.

    .venv/bin/python bench/eval_measures.py --songs 24
"""
from __future__ import annotations

import argparse
from dataclasses import asdict

import numpy as np

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.corpus.synth import render
from hiermusic.evaluation.structure import section_similarity, structure_strength
from hiermusic.evaluation.tempo import estimate_tempo, tempo_error
from hiermusic.evaluation.tonality import estimate_key, mode_quality

SR = 24000
EXCERPT_S = 40  # as the tests judge tempo and key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=24)
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args()

    tempo_hits = tempo_same = mode_hits = 0
    gaps = []
    for seed in range(args.first_seed, args.first_seed + args.songs):
        performance, labels = arrange(compose_spec(seed))
        audio = render(performance, seed)
        excerpt = audio[: EXCERPT_S * SR]
        error = tempo_error(estimate_tempo(excerpt).bpm, labels.tempo_bpm)
        tempo_hits += error.within_octave
        tempo_same += error.within
        mode_hits += estimate_key(excerpt).mode == mode_quality(labels.mode)
        gaps.append(section_similarity(audio, [asdict(s) for s in labels.sections], SR).gap)
    n = args.songs
    print(f"{n} corpus songs (seeds {args.first_seed}..{args.first_seed + n - 1}), first {EXCERPT_S} s for tempo and key")
    print(f"  tempo within 4% (octaves allowed): {tempo_hits}/{n}; at the labelled octave: {tempo_same}/{n}")
    print(f"  mode (major/minor) right: {mode_hits}/{n}")
    g = np.array([x for x in gaps if x is not None])
    print(f"  repeated minus other section similarity: mean {g.mean():.2f}, min {g.min():.2f}, "
          f"above 0 in {(g > 0).sum()}/{len(g)}")
    rng = np.random.default_rng(0)
    click = np.zeros(30 * SR, dtype=np.float32)
    for start in range(0, len(click) - 120, SR // 2):
        click[start : start + 120] = 0.8 * rng.standard_normal(120)
    signals = {"white noise": (0.3 * rng.standard_normal(30 * SR)).astype(np.float32),
               "silence": np.zeros(30 * SR, dtype=np.float32), "click track (120 bpm)": click}
    for name, signal in signals.items():
        tempo, key, structure = estimate_tempo(signal), estimate_key(signal), structure_strength(signal, SR)
        bpm = f"{tempo.bpm:.1f} bpm" if tempo.bpm else f"none ({tempo.reason})"
        print(f"  {name}: tempo {bpm}; key {key.key or 'none'} ({key.reason}); structure {structure.present} "
              f"({structure.reason})")


if __name__ == "__main__":
    main()
