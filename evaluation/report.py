"""report.json (everything measured) and report.md (the tables a person
reads first, with each piece's picture)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def write_report(report: dict, out: Path) -> None:
    out = Path(out)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=_plain) + "\n")
    (out / "report.md").write_text(render_markdown(report))


# The calls that make music; Describe is bookkeeping.
LEVEL_RPCS = ("Plan", "PlanStream", "GenerateCoarse", "Render")


def _plain(value: object) -> object:
    """numpy scalars (from the analysis libraries) as plain JSON numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True)
class Figure:
    label: str  # stable across runs: `eval compare` lines figures up by it
    value: object
    of: int | None = None  # for a share: how many pieces it is a share of


def headline(report: dict) -> list[Figure]:
    """The figures a report leads with."""
    s = report["summary"]
    ask, plan, st, co = s["prompt_adherence"], s["plan_adherence"], s["structure"], s["continuity"]
    fid, codec, text = report["fidelity"], report["fidelity"]["codec"], report["text_audio"]
    songs, n = report["speed"]["songs"], s["pieces"]
    rows = [
        Figure("tempo within 5% of the asked tempo", ask["tempo"]["within"], ask["tempo"]["asked"]),
        Figure("  octave errors (2x or 1/2x), pieces", ask["tempo"]["octave_errors"]),
        Figure("  no steady beat found, pieces", ask["tempo"]["no_tempo_found"]),
        Figure("  same measure, held-out corpus songs at their labelled tempo", ask["tempo"].get("reference_within"),
               ask["tempo"].get("reference_songs")),
        Figure("asked mode (major/minor) found", ask["mode"]["right"], ask["mode"]["asked"]),
        Figure("asked key found", ask["key"]["right"], ask["key"]["asked"]),
        Figure("drums present when asked", ask["drums_when_asked"]["present"], ask["drums_when_asked"]["asked"]),
        Figure("no drums when asked", ask["no_drums_when_asked"]["absent"], ask["no_drums_when_asked"]["asked"]),
        Figure("tempo within 5% of the plan's", plan["tempo_within"], n),
        Figure("mode of the plan found", plan["mode"], n),
        Figure("audible structure", st["present"], n),
        Figure("repeated minus other section similarity", st["repeat_gap_mean"]),
        Figure("  same, held-out corpus songs", st["reference_repeat_gap_mean"]),
        Figure("  ratio to the corpus songs", st["gap_vs_reference"]),
        Figure("loudness follows the planned energy (correlation)", st["energy_agreement_mean"]),
        Figure("spectral flux at joins / elsewhere", co["flux_ratio_mean"]),
        Figure("clicks at joins", co["clicks_at_joins"]),
        Figure("clicks elsewhere", co["clicks_elsewhere"]),
        Figure(f"Fréchet distance to corpus songs ({fid['feature_set']})", fid["frechet_distance"]),
    ]
    for key, label in (("codebooks_8", "8 codebooks"), ("codebooks_2", "2 codebooks (coarse)")):
        if key in codec:
            rows.append(Figure(f"codec SI-SNR dB, {label}", codec[key]["si_snr_db"]))
            rows.append(Figure(f"codec mel distance, {label}", codec[key]["mel_distance"]))
    if text.get("available"):
        judge = "our model" if text["trained"] else "our model, UNTRAINED"
        rows.append(Figure(f"text–audio cosine of matching pairs ({judge})", text["mean_cosine"]))
        rows.append(Figure(f"text→audio recall@1 among the pieces ({judge})", text["recall_at_1"], text["pairs"]))
    rows += [
        Figure("real-time factor, mean", songs.get("real_time_factor_mean")),
        Figure("time to first audio s, mean", songs.get("first_audio_s_mean")),
    ]
    rows += [Figure(f"{s['level']} {s['method']} s per call", round(s["mean_s"], 3))
             for s in report["speed"]["levels"] if s["method"] in LEVEL_RPCS]
    return rows


def shown(figure: Figure) -> str:
    if figure.of is not None and isinstance(figure.value, float):
        return f"{100 * figure.value:.0f}% of {figure.of}"
    if figure.of == 0:
        return "– (none asked)"
    return fmt(figure.value)


def render_markdown(report: dict) -> str:
    lines = ["# hiermusic evaluation", ""]
    for level, versions in report.get("models", {}).items():
        lines.append(f"- {level}: {', '.join(versions)}")
    lines += ["", (f"{report['summary']['pieces']} pieces; measures from librosa analysis of the audio, "
                   "except text–audio agreement, which is our own contrastive model."), ""]
    lines += ["| measure | value |", "|---|---|"]
    lines += [f"| {f.label} | {shown(f)} |" for f in headline(report)]
    text = report["text_audio"]
    if not text.get("available"):
        lines += ["", f"Text–audio agreement not measured: {text['reason']}"]
    lines += ["", "## Per level, from the services' Prometheus metrics", "",
              "| level | method | model | calls | mean s | p95 s (bucket) |", "|---|---|---|---|---|---|"]
    lines += [f"| {s['level']} | {s['method']} | {s['model_version']} | {s['calls']} | {s['mean_s']:.3f} | "
              f"{fmt(s['p95_s'])} |" for s in report["speed"]["levels"] if s["method"] in LEVEL_RPCS]
    lines += ["", "## Pieces", "", ("| id | prompt | tempo asked / plan / found | mode asked / plan / found | "
                                     "drums asked / found | repeat gap | flux ratio | clicks |"),
              "|---|---|---|---|---|---|---|---|"]
    for p in report["pieces"]:
        m = p["measures"]
        lines.append(
            f"| [{p['id']}]({p['picture']}) | {p['prompt'][:60]} | {fmt(m['tempo']['asked_bpm'])} / "
            f"{fmt(m['tempo']['planned_bpm'])} / {fmt(m['tempo']['bpm'])} | {fmt(m['key']['asked_mode'])} / "
            f"{fmt(m['key']['planned'])} / {fmt(m['key']['key'])} {fmt(m['key']['mode'])} | "
            f"{fmt(m['drums']['asked'])} / {fmt(m['drums']['present'])} | {fmt(m['structure']['sections']['gap'])} | "
            f"{fmt(m['continuity']['ratio'])} | {len(m['continuity']['click_times_s'])} |"
        )
    lines += ["", "## Pictures", ""]
    lines += [f"![{p['id']}]({p['picture']})" for p in report["pieces"]]
    return "\n".join(lines) + "\n"


def fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
