"""`hiermusic data show`: what a built corpus holds, as text histograms."""
from __future__ import annotations

from pathlib import Path

from hiermusic.corpus.build import summarize

BAR = 40


def histogram(title: str, counts: dict[str, float], unit: str = "") -> list[str]:
    lines = [title]
    top = max(counts.values(), default=0) or 1
    width = max((len(k) for k in counts), default=0)
    for key, value in counts.items():
        shown = f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}"
        lines.append(f"  {key:<{width}} {'#' * max(1, round(BAR * value / top)):<{BAR}} {shown}")
    return lines


def report(out: Path) -> str:
    s = summarize(Path(out))
    if not s["songs"]:
        return f"{out}: no complete shards"
    lines = [f"{out}: {s['songs']} songs, {s['hours']:.2f} hours"]
    lines += histogram("hours by source", s["hours_by_source"], " h")
    lines += histogram("songs by split", s["splits"])
    lines += histogram("style", dict(sorted(s["styles"].items(), key=lambda kv: -kv[1])))
    lines += histogram("sections", dict(sorted(s["sections"].items(), key=lambda kv: -kv[1])))
    lines += histogram("tempo (bpm)", s["tempo_bpm"])
    tokenizer = Path(out) / "semantic_tokenizer.json"
    if tokenizer.exists():
        lines.append(f"semantic tokenizer: {tokenizer}")
    return "\n".join(lines)
