"""Rule-breaks asked against the same sections unasked: for each prompt of a
prompt file that asks modal interchange or displacement in some sections,
`generate` once to get its plan, then renders that plan twice with the same
seed through a running mesh (`hiermusic up`): as asked, and with every
rule-break flag cleared. The evaluation's own rule-break measures
(evaluation/rule_breaks.py: the borrowed pitch classes' share of a section's
chroma; the off-beat and off-downbeat onset strength) are taken on each
flagged section in both renderings, and their difference printed per piece
and on average, beside the within-piece contrast (flagged sections over
their reference) of each rendering. Issue 28's bar: the average difference
at least half the gap `hiermusic eval rule-breaks` measures between corpus
songs that carry the rule-break and songs that don't (docs/evaluation.md).

    .venv/bin/hiermusic up --port 50931 &
    .venv/bin/python bench/rule_break_ab.py --mesh 127.0.0.1:50931 --out runs/rule-break-ab
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from hiermusic.evaluation.prompt_set import load_prompts
from hiermusic.evaluation.rule_breaks import RULE_BREAK_MEASURES, plan_contrasts, section_values

FORM_PROMPTS = Path(__file__).resolve().parents[1] / "evaluation" / "prompts" / "form.jsonl"


def generate(args: list[str], mesh: str) -> None:
    command = [sys.executable, "-m", "hiermusic.cli.main", "generate", *args, "--mesh", mesh]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"generate {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def render(plan: dict, path: Path, mesh: str) -> tuple[np.ndarray, int, dict]:
    path.with_suffix(".plan.json").write_text(json.dumps(plan, indent=1))
    generate(["--plan", str(path.with_suffix(".plan.json")), "--out", str(path)], mesh)
    audio, rate = sf.read(path, dtype="float32")
    return audio, rate, json.loads(path.with_suffix(".plan.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mesh", required=True, help="HOST:PORT of a running Composer")
    parser.add_argument("--prompts", type=Path, default=FORM_PROMPTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("rule-break-ab"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asking = [p for p in load_prompts(args.prompts) if p.form and (p.form.modal_interchange or p.form.displacement)]
    differences: dict[str, list[float]] = {m: [] for m in RULE_BREAK_MEASURES}
    for prompt in asking:
        first = args.out / f"{prompt.id}-planned.wav"
        generate([prompt.prompt, "--duration", str(prompt.duration_s), "--seed", str(args.seed),
                  "--out", str(first)], args.mesh)
        plan = json.loads(first.with_suffix(".plan.json").read_text())
        stated = {k: plan[k] for k in ("prompt", "duration_s", "tempo_bpm", "key", "mode", "drums",
                                       "extended_intro", "abrupt_ending", "sections", "seed") if k in plan}
        unasked = json.loads(json.dumps(stated))
        for section in unasked["sections"]:
            section["modal_interchange"] = section["displacement"] = False
        asked_audio, rate, asked_record = render(stated, args.out / f"{prompt.id}-asked.wav", args.mesh)
        plain_audio, _, plain_record = render(unasked, args.out / f"{prompt.id}-unasked.wav", args.mesh)
        asked_values = section_values(asked_audio, rate, asked_record)
        plain_values = section_values(plain_audio, rate, plain_record)
        contrasts = plan_contrasts(asked_audio, rate, asked_record)
        for measure in RULE_BREAK_MEASURES:
            flagged = [i for i, s in enumerate(stated["sections"]) if s.get(measure)]
            pairs = [(asked_values[measure][i], plain_values[measure][i]) for i in flagged
                     if measure in asked_values and None not in (asked_values[measure][i], plain_values[measure][i])]
            if not pairs:
                continue
            difference = float(np.mean([a - b for a, b in pairs]))
            differences[measure].append(difference)
            within = contrasts.get(measure, {}).get("contrast")
            print(f"{prompt.id} {measure}: sections {flagged} asked {np.mean([a for a, _ in pairs]):.4f} "
                  f"unasked {np.mean([b for _, b in pairs]):.4f} difference {difference:+.4f}; "
                  f"contrast in the asked piece {within}", flush=True)
    for measure, found in differences.items():
        if found:
            print(f"{measure}: mean difference asked - unasked {np.mean(found):+.4f} over {len(found)} pieces")


if __name__ == "__main__":
    main()
