"""A codec on held-out corpus-style songs, through each of its paths: the
unquantized one (encoder straight to decoder: the bound on everything
after it), all its codebooks and the coarse ones alone, each beside the
song as synthesized. Per path: the key and mode the evaluation's own key
finder hears (tonality.py) and the ones the independent judge hears
(independent_judge.py), each against the song's label; the judge's percussive
share of songs with and without drums; mel distance and SI-SNR against the
original. `hiermusic eval codec` prints it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from hiermusic.corpus.arranger import arrange
from hiermusic.corpus.codec_tokens import encode_audio
from hiermusic.corpus.song_spec import compose_spec
from hiermusic.corpus.synth import render
from hiermusic.corpus.labels import SongLabels
from hiermusic.evaluation.independent_judge import JudgedKey, judge_key, percussive_share
from hiermusic.evaluation.tonality import KeyEstimate, estimate_key
from hiermusic.services.temporal.codec import Codec
from hiermusic.services.temporal.codec_fidelity import mel_distance, si_snr

FIRST_HELD_OUT_SEED = 20000  # past every corpus build's seeds (corpus.build numbers songs from 0)


@dataclass
class Heard:
    """What both judges hear in one clip."""
    tool: KeyEstimate
    judge: JudgedKey
    percussive_share: float

    @classmethod
    def of(cls, audio: np.ndarray, sample_rate: int) -> Heard:
        return cls(estimate_key(audio, sample_rate), judge_key(audio, sample_rate), percussive_share(audio))


@dataclass
class PathScores:
    songs: int = 0
    major_minor: int = 0  # songs labelled plain major or minor: what a two-profile key finder can be asked
    tool_mode: int = 0  # of those, the evaluation's key finder heard the labelled mode
    tool_key: int = 0  # ... and the labelled tonic
    judge_mode: int = 0  # the judge heard the labelled mode (fit >= 0.7)
    judge_key: int = 0
    # Of all songs where the original is heard in a key, those heard in the
    # same key and mode through this path: "kept", whatever the label says.
    tool_heard: int = 0
    tool_kept: int = 0
    judge_heard: int = 0
    judge_kept: int = 0
    percussive_drums: list[float] = field(default_factory=list)
    percussive_no_drums: list[float] = field(default_factory=list)
    mel_distance: list[float] = field(default_factory=list)
    si_snr_db: list[float] = field(default_factory=list)

    def add(self, heard: Heard, original: Heard, labels: SongLabels) -> None:
        self.songs += 1
        (self.percussive_drums if labels.drums else self.percussive_no_drums).append(heard.percussive_share)
        if labels.mode in ("major", "minor"):
            self.major_minor += 1
            self.tool_mode += heard.tool.mode == labels.mode
            self.tool_key += (heard.tool.key, heard.tool.mode) == (labels.key, labels.mode)
            self.judge_mode += heard.judge.mode == labels.mode
            self.judge_key += (heard.judge.key, heard.judge.mode) == (labels.key, labels.mode)
        if original.tool.key is not None:
            self.tool_heard += 1
            self.tool_kept += (heard.tool.key, heard.tool.mode) == (original.tool.key, original.tool.mode)
        if original.judge.key is not None:
            self.judge_heard += 1
            self.judge_kept += (heard.judge.key, heard.judge.mode) == (original.judge.key, original.judge.mode)

    def summary(self) -> dict:
        def median(values: list[float]) -> float | None:
            return round(float(np.median(values)), 4) if values else None

        def mean(values: list[float]) -> float | None:
            return round(float(np.mean(values)), 3) if values else None

        def rate(n: int, of: int) -> float | None:
            return round(n / of, 3) if of else None

        return {"songs": self.songs, "major_minor_songs": self.major_minor,
                "tool_mode_rate": rate(self.tool_mode, self.major_minor),
                "tool_key_rate": rate(self.tool_key, self.major_minor),
                "judge_mode_rate": rate(self.judge_mode, self.major_minor),
                "judge_key_rate": rate(self.judge_key, self.major_minor),
                "tool_kept": f"{self.tool_kept}/{self.tool_heard}", "judge_kept": f"{self.judge_kept}/{self.judge_heard}",
                "percussive_share_drums": median(self.percussive_drums),
                "percussive_share_no_drums": median(self.percussive_no_drums),
                "mel_distance": mean(self.mel_distance), "si_snr_db": mean(self.si_snr_db)}


def codec_paths(codec: Codec, songs: int, first_seed: int = FIRST_HELD_OUT_SEED, seconds: float = 60.0,
                log: Callable[[str], None] = print) -> dict[str, dict]:
    """{path: PathScores.summary()} for "original", "unquantized" (when the
    codec has one), "codebooks_K" (all) and "codebooks_2" (the coarse
    levels), over `songs` songs composed from `first_seed` on."""
    scores: dict[str, PathScores] = {}
    for seed in range(first_seed, first_seed + songs):
        performance, labels = arrange(compose_spec(seed))
        audio = render(performance, seed)[: int(seconds * codec.sample_rate)].astype(np.float32)
        audio = audio[: len(audio) // codec.hop_length * codec.hop_length]
        heard = {"original": Heard.of(audio, codec.sample_rate)}
        for path, out in _through(codec, audio).items():
            out = out[: len(audio)]
            heard[path] = Heard.of(out, codec.sample_rate)
            scores.setdefault(path, PathScores()).mel_distance.append(mel_distance(audio, out, codec.sample_rate))
            scores[path].si_snr_db.append(si_snr(audio, out))
        for path, h in heard.items():
            scores.setdefault(path, PathScores()).add(h, heard["original"], labels)
        log(f"song {seed} ({labels.key} {labels.mode}, {'drums' if labels.drums else 'no drums'}), the judge "
            "hears: " + ", ".join(f"{p} {h.judge.key} {h.judge.mode}" if h.judge.key
                                  else f"{p} no key ({h.judge.fit:.2f})" for p, h in heard.items()))
    order = ["original", "unquantized", f"codebooks_{codec.codebooks}", "codebooks_2"]
    return {p: scores[p].summary() for p in order if p in scores}


def _through(codec: Codec, audio: np.ndarray) -> dict[str, np.ndarray]:
    """The clip through each path the codec has (the original not among them)."""
    codes = torch.from_numpy(encode_audio(codec, audio).astype(np.int64))[None]  # [1, K, T]
    out = {}
    try:
        out["unquantized"] = codec.autoencode(torch.from_numpy(audio)[None, None])[0, 0].cpu().numpy()
    except NotImplementedError:
        pass
    with torch.inference_mode():
        for k in (codec.codebooks, 2):
            out[f"codebooks_{k}"] = codec.decode(codes[:, :k])[0, 0].cpu().numpy()
    return out
