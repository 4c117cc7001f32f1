"""Pictures of the report: each piece's spectrogram with its planned sections
and chunk joins, beside its self-similarity matrix; and the bar chart of a
comparison of two runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hiermusic.orchestrator.song_picture import draw_spectrogram


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def piece_picture(audio: np.ndarray, sample_rate: int, record: dict, times: np.ndarray, ssm: np.ndarray,
                  title: str, out: Path) -> None:
    plt = _pyplot()
    fig, (spec, sim) = plt.subplots(1, 2, figsize=(15, 4.2), dpi=90, gridspec_kw={"width_ratios": [3, 1.1]})
    draw_spectrogram(spec, audio, sample_rate, record["sections"])
    for join in record.get("joins", []):
        spec.axvspan(join["start_s"], join["end_s"], ymin=0, ymax=0.04, color="cyan", linewidth=0)
    spec.set_title(f"{title}  (cyan: chunk joins)", fontsize=10)
    end = times[-1] if len(times) else 0.0
    sim.imshow(ssm, origin="lower", cmap="viridis", extent=(0, end, 0, end), vmin=-1, vmax=1)
    for section in record["sections"][1:]:
        sim.axvline(section["start_s"], color="white", linewidth=0.6)
        sim.axhline(section["start_s"], color="white", linewidth=0.6)
    sim.set_title("self-similarity (chroma + MFCC), planned sections", fontsize=9)
    sim.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def comparison_picture(rows: list[tuple[str, float | None, float | None]], names: tuple[str, str], out: Path) -> None:
    """Side-by-side bars of the figures two runs share (each row: label, a, b)."""
    plt = _pyplot()
    rows = [r for r in rows if r[1] is not None or r[2] is not None]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2), dpi=90)
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r[1] or 0.0 for r in rows], height=0.4, label=names[0])
    ax.barh(y + 0.2, [r[2] or 0.0 for r in rows], height=0.4, label=names[1])
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
