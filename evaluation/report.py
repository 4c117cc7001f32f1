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
    judge = _judge_figures(s.get("judge"))  # a report from before issue 28 has none
    rows = [
        Figure("tempo within 5% of the asked tempo", ask["tempo"]["within"], ask["tempo"]["asked"]),
        Figure("  octave errors (2x or 1/2x), pieces", ask["tempo"]["octave_errors"]),
        Figure("  no steady beat found, pieces", ask["tempo"]["no_tempo_found"]),
        Figure("  same measure, held-out corpus songs at their labelled tempo", ask["tempo"].get("reference_within"),
               ask["tempo"].get("reference_songs")),
        Figure("asked mode (major/minor) found", ask["mode"]["right"], ask["mode"]["asked"]),
        *judge["mode"],
        Figure("asked key found", ask["key"]["right"], ask["key"]["asked"]),
        Figure("drums present when asked", ask["drums_when_asked"]["present"], ask["drums_when_asked"]["asked"]),
        Figure("no drums when asked", ask["no_drums_when_asked"]["absent"], ask["no_drums_when_asked"]["asked"]),
        *judge["drums"],
        Figure("tempo within 5% of the plan's", plan["tempo_within"], n),
        Figure("mode of the plan found", plan["mode"], n),
        Figure("audible structure", st["present"], n),
        Figure("repeated minus other section similarity", st["repeat_gap_mean"]),
        Figure("  same, held-out corpus songs", st["reference_repeat_gap_mean"]),
        Figure("  ratio to the corpus songs", st["gap_vs_reference"]),
        *judge["structure"],
        Figure("loudness follows the planned energy (correlation)", st["energy_agreement_mean"]),
        Figure("spectral flux at joins / elsewhere", co["flux_ratio_mean"]),
        Figure("clicks at joins", co["clicks_at_joins"]),
        Figure("clicks elsewhere", co["clicks_elsewhere"]),
        Figure(f"Fréchet distance to corpus songs ({fid['feature_set']})", fid["frechet_distance"]),
    ]
    rows += _form_figures(report.get("form"))
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


def _judge_figures(judge: dict | None) -> dict[str, list[Figure]]:
    """Issue 28's figures by the independent judge, each placed beside the
    eval's own figure for the same question, with the issue's bar."""
    if not judge:
        return {"mode": [], "drums": [], "structure": []}
    gap, returns, drums, mode = judge["aligned_gap"], judge["returns"], judge["drums"], judge["mode"]
    return {
        "mode": [
            Figure("  same, by the independent judge (bar 90%)", mode["right"], mode["asked"]),
            Figure("  judge, held-out corpus songs at their labelled mode", mode["reference_right"],
                   mode["reference_songs"]),
        ],
        "drums": [
            Figure("judge's percussive share, median, drums asked", drums["percussive_share_median"]),
            Figure("  no drums asked", drums["percussive_share_median_none"]),
            Figure("  ratio (bar 3x)", drums["ratio"]),
            Figure("  held-out corpus songs with / without drums",
                   f"{fmt(drums['reference_percussive_share_median'])} / "
                   f"{fmt(drums['reference_percussive_share_median_none'])}"),
        ],
        "structure": [
            Figure("judge's aligned section gap (returning minus other), mean", gap["mean"]),
            Figure("  median", gap["median"]),
            Figure("  pieces with returns", gap["pieces_with_returns"]),
            Figure("  same, held-out corpus songs at the pieces' length", gap["reference_mean"]),
            Figure("  ratio of means to the corpus songs (bar 0.8)", gap["vs_reference"]),
            Figure("returns copied sample for sample (bar: none)", returns["copies"]),
            Figure("  of returns", returns["returns"]),
            # As 1 - peak: a copy's 0.99997 would read "1" at three digits.
            Figure("  closest return: 1 - peak correlation (copy <= 1e-4)", None if returns["peak_correlation_max"]
                   is None else round(1 - returns["peak_correlation_max"], 6)),
            Figure("  same, held-out corpus songs: copies / returns",
                   f"{returns['reference_copies']} / {returns['reference_returns']}"),
        ],
    }


def _form_figures(form: dict | None) -> list[Figure]:
    """Issue 27's figures, where the run's prompts asked for a form."""
    if not form:
        return []

    def share(label: str, count: dict) -> Figure:
        return Figure(label, count["share"], count["of"])

    return [
        share("asked forms honoured in the plan", form["honoured"]),
        share("  section descriptions carried into the plan", form["descriptions_in_plan"]),
        share("loud vs quiet section >= 3 dB", form["loud_vs_quiet"]),
        Figure("  median gap dB", form["loud_vs_quiet"]["median_gap_db"]),
        share("drums in / out percussive share >= 2x", form["drums_in_vs_out"]),
        Figure("  median ratio", form["drums_in_vs_out"]["median_ratio"]),
        share("returns in >= 45 s open-form pieces", form["returns"]),
        share("extended intro >= 1.5x the other sections' median", form["extended_intro"]),
        share("abrupt ending: no outro, last 2 s within 6 dB", form["abrupt_ending"]),
        share("modal interchange: flagged sections above the others", form["rule_breaks_higher"]["modal_interchange"]),
        share("displacement: flagged sections above the others", form["rule_breaks_higher"]["displacement"]),
    ]


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
    if report["pieces"] and "judge" in report["pieces"][0]["measures"]:
        lines += _judge_table(report["pieces"])
    if report.get("form"):
        lines += _form_table(report["pieces"])
    if report.get("refused"):
        lines += ["", "## Refused by the mesh", "", "| id | prompt | reason |", "|---|---|---|"]
        lines += [f"| {r['id']} | {r['prompt'][:60]} | {r['reason']} |" for r in report["refused"]]
    lines += ["", "## Pictures", ""]
    lines += [f"![{p['id']}]({p['picture']})" for p in report["pieces"]]
    return "\n".join(lines) + "\n"


def _judge_table(pieces: list[dict]) -> list[str]:
    lines = ["", "## The independent judge (issue 28)", "",
             "| id | aligned gap | returns: peak correlation with the first | percussive share | drums asked | "
             "key (fit) | mode asked / right |", "|---|---|---|---|---|---|---|"]
    for p in pieces:
        j = p["measures"]["judge"]
        returns = ", ".join(f"{r['section']}←{r['returns_to']} {r['peak']:.5f}{' COPY' if r['copy'] else ''}"
                            if r["peak"] is not None else f"{r['section']}←{r['returns_to']} silent"
                            for r in j["returns"])
        key = j["key"]
        lines.append(
            f"| {p['id']} | {fmt((j['aligned_gap'] or {}).get('gap'))} | {returns or '–'} | "
            f"{fmt(j['percussive_share'])} | {fmt(j['drums_asked'])} | "
            f"{fmt(key['key'])} {fmt(key['mode'])} ({key['fit']:.2f}) | "
            f"{fmt(j['mode_asked'])} / {fmt(j['mode_matches'])} |"
        )
    return lines


def _form_table(pieces: list[dict]) -> list[str]:
    lines = ["", "## Form asked and made", "",
             "| id | plan | form honoured | loud − quiet dB | drums in/out | ending dB | returns | failed |",
             "|---|---|---|---|---|---|---|---|"]
    for p in pieces:
        f = p["measures"].get("form")
        if f is None:
            continue
        failed = [(c["name"], c["reason"]) for c in f["checks"] + f["descriptions"] if not c["passed"]]
        failed += [(name, f[name]["reason"]) for name in ("loud_vs_quiet", "drums_in_vs_out", "abrupt_ending")
                   if name in f and not f[name]["passed"]]
        lines.append(
            f"| {p['id']} | {' '.join(f['plan'])} | {fmt(f['honoured'])} | "
            f"{fmt(f.get('loud_vs_quiet', {}).get('value'))} | {fmt(f.get('drums_in_vs_out', {}).get('value'))} | "
            f"{fmt(f.get('abrupt_ending', {}).get('ending_db'))} | {fmt(f.get('returns', {}).get('passed'))} | "
            f"{'; '.join(f'{name}: {reason}' for name, reason in failed)} |"
        )
    return lines


def fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
