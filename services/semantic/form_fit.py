"""Whole bars for the sections of a form, fitted to the piece's duration:
the bars a form states kept, the free ones scaled from what the model
sampled, the last section ending on the duration exactly; where they cannot
fit, a FormError that names the section."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from hiermusic.services.semantic.form_request import FormError, SectionRequest

EXTENDED_INTRO = 1.5  # an extended intro's seconds over the other sections' median
_EPS = 1e-6


@dataclass
class Draft:
    """A section before its times are laid out."""
    request: SectionRequest  # what was asked of it: only its type, in an open form
    bars: int | None = None  # stated or sampled; None: not sampled yet (a section added by repair)
    energy: float | None = None

    @classmethod
    def asked(cls, request: SectionRequest) -> Draft:
        return cls(request, request.bars, request.energy)

    @property
    def type(self) -> str:
        return self.request.type

    @property
    def stated_bars(self) -> bool:
        return self.request.bars is not None


def fit_bars(drafts: list[Draft], tempo_bpm: float, bar_s: float, duration_s: float,
             extended_intro: bool = False) -> list[int]:
    """Whole bars of every section, the stated kept, the free ones scaled
    from their sampled bars (largest remainder, at least 2 each where there is
    room, else 1) so that the last section, ending at `duration_s`, is its
    bars long to within a bar. FormError, naming the section, where they
    cannot fit."""
    b = duration_s / bar_s
    last = drafts[-1]
    free = [i for i, d in enumerate(drafts) if not d.stated_bars]
    fixed = sum(d.bars for d in drafts if d.stated_bars)  # type: ignore[misc]
    if len(drafts) == 1 and not last.stated_bars:
        return [max(1, round(b))]
    if last.stated_bars:
        # The sections before the last end within a bar of where its stated bars begin.
        room = max(math.floor(b - last.bars + _EPS) - (fixed - last.bars), len(free)) if free else 0
        length = b - (fixed - last.bars + room)
        if length <= last.bars - 1 + _EPS:
            raise FormError(_overflow(drafts, tempo_bpm, bar_s, duration_s))
        if not free and length >= last.bars + 1 - _EPS:
            total = fixed * bar_s
            raise FormError(f"the sections' bars take {total:.1f} s ({fixed} bars at {tempo_bpm:g} bpm), "
                            f"{duration_s - total:.1f} s short of duration_s {duration_s:g} s; "
                            "add bars or set duration_s")
    else:
        room = math.floor(b + _EPS) - fixed
        if room < len(free):
            raise FormError(_overflow(drafts, tempo_bpm, bar_s, duration_s))
    weights = [float(drafts[i].bars or 1) for i in free]
    intro_free = extended_intro and drafts[0].type == "intro" and free[:1] == [0]
    if intro_free and len(weights) > 1:
        others = [float(d.bars or 1) for d in drafts[1:]]
        weights[0] = max(weights[0], EXTENDED_INTRO * statistics.median(others))
    bars = [d.bars or 0 for d in drafts]
    for i, n in zip(free, _apportion(weights, room, 2 if room >= 2 * len(free) else 1)):
        bars[i] = n
    if intro_free:
        _lengthen_intro(bars, free[1:], bar_s, duration_s)
    seconds = section_seconds(bars, bar_s, duration_s)
    if extended_intro and not intro_is_extended(seconds):
        raise FormError(f"an extended intro was asked, but the intro's {bars[0]} bars ({seconds[0]:.1f} s) are "
                        f"under {EXTENDED_INTRO:g} × the other sections' median "
                        f"({statistics.median(seconds[1:]):.1f} s)")
    return bars


def intro_is_extended(seconds: list[float]) -> bool:
    return len(seconds) < 2 or seconds[0] >= EXTENDED_INTRO * statistics.median(seconds[1:]) - _EPS


def section_seconds(bars: list[int], bar_s: float, duration_s: float) -> list[float]:
    """Each section's length laid out from whole bars, the last ending at `duration_s`."""
    return [n * bar_s for n in bars[:-1]] + [duration_s - sum(bars[:-1]) * bar_s]


def _apportion(weights: list[float], total: int, least: int) -> list[int]:
    """Whole numbers summing to `total`, each at least `least`, proportional
    to `weights` (largest remainder; ties to the earlier). total >= least * len."""
    if not weights:
        return []
    pinned = [False] * len(weights)
    while True:
        left = total - least * sum(pinned)
        scale = left / sum(w for w, p in zip(weights, pinned) if not p)
        shares = [least if p else w * scale for w, p in zip(weights, pinned)]
        low = [i for i, s in enumerate(shares) if not pinned[i] and s < least]
        if not low:
            break
        for i in low:
            pinned[i] = True
        if all(pinned):
            shares = [float(least)] * len(weights)
            break
    out = [math.floor(s + _EPS) for s in shares]
    order = sorted(range(len(out)), key=lambda i: (-(shares[i] - out[i]), i))
    for i in order[:total - sum(out)]:
        out[i] += 1
    return out


def _lengthen_intro(bars: list[int], donors: list[int], bar_s: float, duration_s: float) -> None:
    """Bars moved from the longest free sections to the intro (bars[0]) until
    it is EXTENDED_INTRO times the others' median."""
    while not intro_is_extended(section_seconds(bars, bar_s, duration_s)):
        giver = max((i for i in donors if bars[i] > 1), key=lambda i: (bars[i], i), default=None)
        if giver is None:
            raise FormError("an extended intro was asked, but the other sections leave it no room")
        bars[giver] -= 1
        bars[0] += 1


def _overflow(drafts: list[Draft], tempo_bpm: float, bar_s: float, duration_s: float) -> str:
    """Why the sections, the free ones at a bar each, do not fit in `duration_s`."""
    if not any(d.stated_bars for d in drafts):
        n = len(drafts)
        return (f"the form asked has {n} sections; at {tempo_bpm:g} bpm they need at least "
                f"{n * bar_s:.1f} s (1 bar each), the piece is {duration_s:g} s")
    bars = [d.bars if d.stated_bars else 1 for d in drafts]
    starts = [sum(bars[:i]) * bar_s for i in range(len(bars))]
    total = sum(bars)
    free = ", 1 for each section without bars" if not all(d.stated_bars for d in drafts) else ""
    head = (f"the sections' bars take {total * bar_s:.1f} s ({total} bars at {tempo_bpm:g} bpm{free}), "
            f"past duration_s {duration_s:g} s")
    late = next((i for i, s in enumerate(starts) if s >= duration_s - _EPS), None)
    if late is None:
        i = len(drafts) - 1
        return f"{head}: sections[{i}] ({drafts[i].type}) ends at {total * bar_s:.1f} s"
    return f"{head}: sections[{late}] ({drafts[late].type}) starts at {starts[late]:.1f} s"
