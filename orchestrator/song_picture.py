"""A picture of a generated piece: its spectrogram with the planned sections."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def draw(audio: np.ndarray, sample_rate: int, sections: list[dict], title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    draw_spectrogram(ax, audio, sample_rate, sections)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def draw_spectrogram(ax, audio: np.ndarray, sample_rate: int, sections: list[dict]) -> None:
    """Spectrogram up to 8 kHz on a matplotlib axis, a line and a name at each section start."""
    ax.specgram(audio + 1e-9, NFFT=1024, Fs=sample_rate, noverlap=512, cmap="magma")
    ax.set_ylim(0, 8000)
    ax.set_xlim(0, len(audio) / sample_rate)
    for section in sections:
        ax.axvline(section["start_s"], color="white", linewidth=1)
        ax.text(section["start_s"] + 0.2, 7600, section["type"], color="white", fontsize=8, va="top",
                rotation=90 if len(sections) > 12 else 0)
    ax.set_xlabel("seconds")
    ax.set_ylabel("Hz")
