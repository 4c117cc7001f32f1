"""Per-section loudness and drums read from the audio over the plan's
sections, and the contrasts issue 27 asks of them: a section asked loud
louder than one asked quiet, drums where they were asked and not where they
were ruled out, and an abrupt ending that stops at full level."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hiermusic.evaluation.loudness import rms_dbfs
from hiermusic.evaluation.percussion import HOP, MIN_DRUM_BAND_SHARE, separated_power

# Left out at each edge of a section (or a quarter of a short one), so
# crossfades, fills and transitions count for neither neighbour.
EDGE_S = 0.5
LOUDER_DB = 3.0  # a section asked loud over one asked quiet (issue 27)
DRUMS_RATIO = 2.0  # drum-band percussive share where drums were asked over where they were ruled out
ENDING_S = 2.0  # an abrupt ending: the last seconds ...
ENDING_WITHIN_DB = 6.0  # ... within this of the whole piece's level


@dataclass
class SectionLevel:
    type: str
    loudness_dbfs: float | None  # RMS over the section's middle; None: silent or no samples
    percussive_share: float | None  # percussive / (harmonic + percussive) energy after HPSS, all bands
    drum_band_share: float | None  # the part of it above DRUM_BAND_HZ: what tells drums apart


@dataclass
class Contrast:
    value: float | None  # dB gap or share ratio; None when a side is missing
    passed: bool
    reason: str


def section_middle(start_s: float, end_s: float) -> tuple[float, float]:
    """The span of a section the measures read: its edges trimmed."""
    edge = min(EDGE_S, (end_s - start_s) / 4)
    return start_s + edge, end_s - edge


def section_levels(audio: np.ndarray, sample_rate: int, sections: list[dict]) -> list[SectionLevel]:
    """Loudness and percussive shares of each planned section. One harmonic-
    percussive separation of the whole piece with percussion.py's settings,
    summed over each section's frames."""
    harmonic, percussive, band = separated_power(audio, sample_rate)  # power [F, n], bool [F]
    percussive_power = percussive.sum(axis=0)  # [n]
    band_power = percussive[band].sum(axis=0)  # [n]
    total_power = percussive_power + harmonic.sum(axis=0)
    levels = []
    for s in sections:
        start, end = section_middle(float(s["start_s"]), float(s["end_s"]))
        segment = audio[max(int(start * sample_rate), 0): max(int(end * sample_rate), 0)]
        db = rms_dbfs(segment)
        a, b = (int(round(t * sample_rate / HOP)) for t in (start, end))
        total = float(total_power[a:b].sum())
        share, band_share = (float(p[a:b].sum()) / total if total > 0 else None
                             for p in (percussive_power, band_power))
        levels.append(SectionLevel(s["type"], db if np.isfinite(db) else None, share, band_share))
    return levels


def loud_vs_quiet(levels: list[SectionLevel], loud: tuple[str, ...], quiet: tuple[str, ...]) -> Contrast:
    """Mean dB of the sections of the loud types minus that of the quiet ones: >= 3 dB."""
    hi, lo = _mean(levels, loud, "loudness_dbfs"), _mean(levels, quiet, "loudness_dbfs")
    if hi is None or lo is None:
        return Contrast(None, False, _missing(levels, loud if hi is None else quiet))
    gap = hi - lo
    return Contrast(gap, gap >= LOUDER_DB, f"{'/'.join(loud)} {hi:.1f} dBFS, {'/'.join(quiet)} {lo:.1f} dBFS: "
                    f"{gap:+.1f} dB (needs +{LOUDER_DB:g})")


def drums_in_vs_out(levels: list[SectionLevel], drums_in: tuple[str, ...], drums_out: tuple[str, ...]) -> Contrast:
    """Mean drum-band percussive share where drums were asked over where
    they were ruled out: >= 2x. Both sides are floored at the share below
    which percussion.py hears no drums, so two drumless sections compare as
    1x however their tiny shares fall. Measured on corpus songs of seeds
    1000-1015, a chorus with its kit over the verse rendered without: all-band
    share 0.9-2.1x (it does not tell drums apart), drum band 65x and more;
    drumless songs' chorus over verse, drum band unfloored 1.2-3.0x."""
    on, off = _mean(levels, drums_in, "drum_band_share"), _mean(levels, drums_out, "drum_band_share")
    if on is None or off is None:
        return Contrast(None, False, _missing(levels, drums_in if on is None else drums_out))
    ratio = max(on, MIN_DRUM_BAND_SHARE) / max(off, MIN_DRUM_BAND_SHARE)
    return Contrast(ratio, ratio >= DRUMS_RATIO, f"drum-band percussive share {'/'.join(drums_in)} {on:.2e}, "
                    f"{'/'.join(drums_out)} {off:.2e}: {ratio:.2f}x (needs {DRUMS_RATIO:g}x)")


def ending_level(audio: np.ndarray, sample_rate: int) -> Contrast:
    """The last 2 s against the whole piece, in dB: within 6 dB is a piece
    that stops at full level rather than fading or thinning out."""
    piece, last = rms_dbfs(audio), rms_dbfs(audio[-int(ENDING_S * sample_rate):])
    if not (np.isfinite(piece) and np.isfinite(last)):
        return Contrast(None, False, "silent")
    gap = last - piece
    return Contrast(gap, abs(gap) <= ENDING_WITHIN_DB, f"last {ENDING_S:g} s {last:.1f} dBFS, piece {piece:.1f} "
                    f"dBFS: {gap:+.1f} dB (needs within {ENDING_WITHIN_DB:g})")


def _mean(levels: list[SectionLevel], types: tuple[str, ...], field: str) -> float | None:
    values = [getattr(x, field) for x in levels if x.type in types and getattr(x, field) is not None]
    return float(np.mean(values)) if values else None


def _missing(levels: list[SectionLevel], types: tuple[str, ...]) -> str:
    if any(x.type in types for x in levels):
        return f"the {'/'.join(types)} sections are silent"
    return f"no {'/'.join(types)} in the plan"
