"""The tempo figure of finished `hiermusic eval` reports, measured again with
the tempo measure as it is now: when the measure changes, the pieces need
not be generated again to see what it says of them. Prints each piece that
names a tempo (the report's estimate beside the new one) and the share
within 5%, then the same measure on the held-out corpus songs the reports
compare with.

    .venv/bin/python bench/remeasure_tempo.py runs/eval-kg runs/eval-t1
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import soundfile as sf

from hiermusic.evaluation.piece_analysis import TEMPO_TOLERANCE, reference_tempo_within
from hiermusic.evaluation.reference import reference_songs
from hiermusic.evaluation.tempo import estimate_tempo, tempo_error

REFERENCE_SONGS = 6  # hiermusic eval's default
REFERENCE_S = 60  # the evaluation's pieces are 60 s


def remeasure(report_dir: Path) -> None:
    report = json.loads((report_dir / "report.json").read_text())
    hits = total = 0
    for piece in report["pieces"]:
        asked = piece["asked"].get("tempo_bpm")
        if not asked:
            continue
        audio, sample_rate = sf.read(report_dir / piece["audio"], dtype="float32")
        estimate = estimate_tempo(audio, sample_rate)
        error = tempo_error(estimate.bpm, asked, TEMPO_TOLERANCE)
        hits, total = hits + error.within, total + 1
        new = f"{estimate.bpm:.1f}" if estimate.bpm else estimate.reason
        print(f"  {piece['id']} asked {asked:g} bpm: report {piece['measures']['tempo']['bpm']}, now {new}"
              f" ({'within' if error.within else error.octave})")
    print(f"{report_dir}: tempo within {TEMPO_TOLERANCE:.0%} of the asked tempo for {hits}/{total}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", type=Path, nargs="+", help="directories hiermusic eval wrote")
    args = parser.parse_args()
    for report_dir in args.reports:
        remeasure(report_dir)
    found = [reference_tempo_within(audio[: REFERENCE_S * 24000], labels.tempo_bpm)
             for labels, audio in reference_songs(REFERENCE_SONGS)]
    print(f"held-out corpus songs: {sum(found)}/{len(found)}")


if __name__ == "__main__":
    main()
