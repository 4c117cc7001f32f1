"""Fits the tempo measure's beat-choice weights (evaluation.tempo.BEAT_WEIGHTS)
on corpus songs of known tempo and says how the measure does on held-out
ones, per tempo band: the tracker alone, the chosen candidate, and the
refined tempo's precision. Each set is corpus songs as composed and, as
many again, songs played at a tempo drawn from 60-180 bpm whatever their
style ("style-free"): prompts ask for tempi the corpus gives no song of
that style. The constants in evaluation/tempo.py are what it
printed; rerun it when the corpus or the features change.

    .venv/bin/python bench/tempo_octaves.py --fit 3000 300 5000 300 --held-out 1000 100 6000 150
"""
from __future__ import annotations

import argparse
import dataclasses
from multiprocessing import Pool

import numpy as np
import torch

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.song_spec import compose_spec, style_free
from hiermusic.corpus.synth import render
from hiermusic.evaluation import tempo
from hiermusic.services.common.librosa_cache import librosa

SR = 24000
EXCERPT_S = 60  # the evaluation's pieces are 60 s
TOLERANCE = 0.05  # the bar's
BANDS = ((60, 80), (80, 100), (100, 130), (130, 150), (150, 181))


def song_features(seed: int, style_free: bool) -> tuple[float, np.ndarray, np.ndarray, float, float]:
    """Labelled bpm, the candidates' bpm [C] (NaN where estimate_tempo would
    not weigh them) and features [C, F], the tracker's bpm and the measure's
    answer (NaN: no steady beat). `style_free`: the song at a tempo drawn
    from 60-180 bpm (by its seed) instead of its style's."""
    spec = compose_spec(seed)
    if style_free:
        spec = dataclasses.replace(spec, tempo_bpm=style_free(spec).tempo_bpm)  # its drums kept
    performance, labels = arrange(spec)
    audio = render(performance, seed)[: EXCERPT_S * SR].astype(np.float32)
    envelope = librosa.onset.onset_strength(y=audio, sr=SR, hop_length=tempo.HOP)
    tracked = float(np.atleast_1d(librosa.beat.beat_track(onset_envelope=envelope, sr=SR, hop_length=tempo.HOP)[0])[0])
    chroma = librosa.feature.chroma_stft(y=audio, sr=SR, hop_length=tempo.HOP, n_fft=tempo.CHROMA_FFT)
    bpm = np.array([tracked * f for f in tempo.CANDIDATES])
    rate = tempo.onsets_per_minute(envelope, SR)
    features = np.stack([tempo._beat_features(envelope, chroma, b, SR / tempo.HOP, rate) for b in bpm])
    # The candidates estimate_tempo weighs: in range, with a steady beat at them.
    inside = (bpm >= tempo.CANDIDATE_BPM[0]) & (bpm <= tempo.CANDIDATE_BPM[1]) & (features[:, 2] >= tempo.STEADY_BEAT)
    measured = tempo.estimate_tempo(audio).bpm
    return float(labels.tempo_bpm), np.where(inside, bpm, np.nan), features, tracked, measured or np.nan


def fit(bpm: np.ndarray, features: np.ndarray, right: np.ndarray, l2: float = 0.01) -> np.ndarray:
    """Conditional logit over each song's candidates: maximise the
    probability of the right ones."""
    x, ok, y = torch.tensor(features), torch.tensor(~np.isnan(bpm)), torch.tensor(right)
    usable = y.any(dim=1)
    w = torch.zeros(x.shape[-1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w], max_iter=500)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        log_p = (x @ w).masked_fill(~ok, -1e9).log_softmax(dim=1)
        value = -torch.logsumexp(log_p.masked_fill(~y, -1e9), dim=1)[usable].mean() + l2 * (w**2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return w.detach().numpy()


def report(name: str, labelled: np.ndarray, hits: dict[str, np.ndarray]) -> None:
    print(f"{name}: {len(labelled)} songs, within {TOLERANCE:.0%} of the labelled tempo")
    for method, hit in hits.items():
        bands = ", ".join(f"{lo}-{hi - 1}: {hit[(labelled >= lo) & (labelled < hi)].mean():.0%}"
                          f" of {((labelled >= lo) & (labelled < hi)).sum()}" for lo, hi in BANDS)
        print(f"  {method}: {hit.mean():.1%} ({bands})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", type=int, nargs=4, default=(3000, 300, 5000, 300),
                        metavar=("FIRST_SEED", "SONGS", "STYLE_FREE_FIRST_SEED", "STYLE_FREE_SONGS"))
    parser.add_argument("--held-out", type=int, nargs=4, default=(1000, 100, 6000, 150),
                        metavar=("FIRST_SEED", "SONGS", "STYLE_FREE_FIRST_SEED", "STYLE_FREE_SONGS"))
    args = parser.parse_args()
    sets = {}
    for name, (first, n, free_first, free_n) in (("fit", args.fit), ("held-out", args.held_out)):
        for kind, seeds, style_free in (("corpus", range(first, first + n), False),
                                        ("style-free", range(free_first, free_first + free_n), True)):
            with Pool() as pool:  # a song a core: ~1 s of rendering and analysis each
                rows = pool.starmap(song_features, [(seed, style_free) for seed in seeds])
            sets[f"{name} {kind}"] = [np.array([r[i] for r in rows]) for i in range(5)]
    together = [np.concatenate(parts) for parts in zip(sets["fit corpus"], sets["fit style-free"])]
    labelled, bpm, features, _, _ = together
    right = np.abs(bpm - labelled[:, None]) <= TOLERANCE * labelled[:, None]
    weights = fit(bpm, features, right)
    print("fitted BEAT_WEIGHTS:", np.array2string(weights, precision=3, separator=", "))
    print("in evaluation/tempo.py:", np.array2string(tempo.BEAT_WEIGHTS, precision=3, separator=", "))
    for name, (labelled, bpm, features, tracked, measured) in sets.items():
        chosen = bpm[np.arange(len(bpm)), np.where(np.isnan(bpm), -np.inf, features @ weights).argmax(axis=1)]

        def within(estimate: np.ndarray) -> np.ndarray:
            return np.abs(estimate - labelled) <= TOLERANCE * labelled

        report(name, labelled, {"tracker alone": within(tracked), "fitted choice": within(chosen),
                                "estimate_tempo (refined)": within(measured)})
        octave = lambda e: np.abs(e * 2.0 ** np.round(np.log2(labelled / e)) - labelled) / labelled  # noqa: E731
        print(f"  precision up to octaves, median error: tracker {np.nanmedian(octave(tracked)):.2%}, "
              f"refined {np.nanmedian(octave(measured)):.2%}")


if __name__ == "__main__":
    main()
