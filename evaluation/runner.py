"""`hiermusic eval`: run a prompt set through a mesh, measure every piece and
the reference corpus songs, and write report.json, report.md and pictures.

Pieces already in the output directory (same prompt, length and seed) are
kept, so an interrupted run continues where it stopped."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from hiermusic.evaluation.form_summary import summarize_form
from hiermusic.evaluation.prompt_set import EVAL_MODES, EvalPrompt, load_prompts
from hiermusic.orchestrator.compose_session import ComposeError
from hiermusic.evaluation.speed import latency_histograms, level_speed, song_speed

Log = Callable[[str], None]


@dataclass
class EvalConfig:
    prompts: Path | None = None  # None: the bundled standard set
    limit: int | None = None  # the first N prompts
    duration_s: float | None = None  # overrides every prompt's length (quick runs)
    seed: int = 0
    reference_songs: int = 6  # held-out corpus songs for Fréchet distance, structure and the codec
    codec_clip_s: float = 10.0
    codec_checkpoint: Path | None = None  # None: the bundled codec weights, if any
    text_audio_checkpoint: Path | None = None  # None: the bundled text–audio model, if any
    device: str = "cpu"  # for the measures that run a model here
    extra_metrics: dict[str, str] = field(default_factory=dict)  # level -> HOST:PORT of a remote mesh


def run_eval(composer, config: EvalConfig, out: Path, log: Log = print) -> dict:
    """`composer`: an open EmbeddedComposer or RemoteComposer; None when
    every piece is already in `out` (see `all_kept`), so only the measures run."""
    from hiermusic.evaluation.report import write_report

    prompts = load_prompts(config.prompts, config.limit)
    out = Path(out)
    (out / "pieces").mkdir(parents=True, exist_ok=True)
    if composer is None and not all_kept(config, out):
        raise ValueError(f"{out}: some pieces are missing, and there is no mesh to make them")
    endpoints = {**(composer.level_metrics() if composer else {}), **config.extra_metrics}
    before = latency_histograms(endpoints) if endpoints else {}
    started = time.perf_counter()
    records, fresh, made_for, refused = [], [], [], []
    for n, prompt in enumerate(prompts, 1):
        try:
            record, made = _piece(composer, prompt, config, out / "pieces", log, f"[{n}/{len(prompts)}]")
        except ComposeError as err:
            if not err.refused:  # a mesh that failed; a refusal is the prompt's answer
                raise
            log(f"    refused: {err}")
            refused.append({"id": prompt.id, "prompt": prompt.prompt, "reason": str(err)})
            continue
        records.append(record)
        made_for.append(prompt)
        if made:
            fresh.append(record["timings"])
    speed = {
        "generated_here": len(fresh),
        "songs": song_speed(fresh),
        "levels": [asdict(s) for s in level_speed(before, latency_histograms(endpoints))] if endpoints else [],
        "metrics_endpoints": endpoints,
    }
    log(f"generated {len(fresh)} pieces in {time.perf_counter() - started:.0f} s; measuring")
    report = measure(made_for, records, out, config, log)
    report["refused"] = refused
    if report.get("form") is not None or refused:
        report["form"] = with_refusals(report.get("form"), refused, prompts)
    report["speed"] = speed
    report["models"] = _models(records)
    write_report(report, out)
    log(f"wrote {out / 'report.json'}, {out / 'report.md'} and {len(records)} pictures in {out / 'pieces'}")
    return report


def with_refusals(form: dict | None, refused: list[dict], prompts: list[EvalPrompt]) -> dict | None:
    """A prompt whose form was refused honours nothing it asked: counted as
    not honoured."""
    asked = {p.id for p in prompts if p.form.asked}
    missed = [r for r in refused if r["id"] in asked]
    if not missed:
        return form
    form = form or summarize_form([], always=True)
    honoured = form["honoured"]
    of = honoured["of"] + len(missed)
    form["honoured"] = {"passed": honoured["passed"], "of": of, "share": round(honoured["passed"] / of, 3)}
    form["refused"] = [r["id"] for r in missed]
    return form


def all_kept(config: EvalConfig, out: Path) -> bool:
    """Whether every piece of the run is already in `out`: a rerun then
    needs no mesh."""
    return all(_kept(prompt, config, Path(out) / "pieces") for prompt in load_prompts(config.prompts, config.limit))


def _kept(prompt: EvalPrompt, config: EvalConfig, pieces: Path) -> dict | None:
    """The record of this prompt's piece made earlier with the same length and seed, if any."""
    wav = pieces / f"{prompt.id}.wav"
    plan = wav.with_suffix(".plan.json")
    # The plan is written last: a WAV without one is a piece cut short, made again.
    if not (wav.is_file() and plan.is_file()):
        return None
    try:
        record = json.loads(plan.read_text())
        same = (record["prompt"], record["requested_duration_s"], record["seed"])
    except (ValueError, KeyError, TypeError):  # a damaged plan: the piece is made again
        return None
    return record if same == (prompt.prompt, config.duration_s or prompt.duration_s, config.seed) else None


def _piece(composer, prompt: EvalPrompt, config: EvalConfig, pieces: Path, log: Log, tag: str) -> tuple[dict, bool]:
    from hiermusic.orchestrator.song_writer import SongWriter
    from hiermusic.v1 import composer_pb2

    record = _kept(prompt, config, pieces)
    if record is not None:
        log(f"{tag} {prompt.id}: kept from an earlier run")
        return record, False
    wav = pieces / f"{prompt.id}.wav"
    duration = config.duration_s or prompt.duration_s
    log(f"{tag} {prompt.id} ({duration:.0f} s): {prompt.prompt}")
    writer = SongWriter(wav, prompt.prompt, config.seed, duration, progress=_Quiet())
    request = composer_pb2.ComposeRequest(prompt=prompt.prompt, duration_s=duration, seed=config.seed)
    composer.compose(request, writer.handle)
    record = writer.finish()
    return record, True


class _Quiet:
    """Progress sink for the per-chunk bar: eval logs one line per piece instead."""

    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None: ...

    def isatty(self) -> bool:
        return False


def measure(prompts: list[EvalPrompt], records: list[dict], out: Path, config: EvalConfig, log: Log) -> dict:
    """Every measure of the run, from the WAVs and plans in `out/pieces`."""
    from hiermusic.evaluation.codec_fidelity import codec_fidelity
    from hiermusic.evaluation.fidelity import FEATURE_SET, fidelity_features, frechet_distance
    from hiermusic.evaluation.pictures import piece_picture
    from hiermusic.evaluation.piece_analysis import analyze_form, analyze_piece, judge_measures, reference_tempo_within
    from hiermusic.evaluation.reference import reference_songs
    from hiermusic.evaluation.structure import section_similarity, self_similarity
    from hiermusic.evaluation.summary import summarize_pieces
    from hiermusic.evaluation.text_agreement import text_agreement

    pieces, audios, features = [], [], []
    for prompt, record in zip(prompts, records):
        audio, sr = sf.read(out / "pieces" / record["audio"], dtype="float32")
        measures = analyze_piece(audio, sr, record, prompt.attributes)
        if prompt.form.asked:
            measures["form"] = analyze_form(audio, sr, record, prompt.form)
        times, ssm = self_similarity(audio, sr)
        picture = out / "pieces" / f"{prompt.id}.png"
        piece_picture(audio, sr, record, times, ssm, f"{prompt.id}: {prompt.prompt[:100]}", picture)
        pieces.append({
            "id": prompt.id,
            "prompt": prompt.prompt,
            "asked": asdict(prompt.attributes),
            **({"asked_form": asdict(prompt.form)} if prompt.form.asked else {}),
            "audio": f"pieces/{record['audio']}",
            "picture": f"pieces/{picture.name}",
            "plan": {k: record[k] for k in ("tempo_bpm", "key", "mode", "sections", "extended_intro", "abrupt_ending")
                     if k in record},
            "timings": record["timings"],
            "measures": measures,
        })
        audios.append(audio)
        features.append(fidelity_features(audio, sr))
    log(f"measured {len(pieces)} pieces; rendering {config.reference_songs} held-out corpus songs")
    reference = reference_songs(config.reference_songs)
    gaps = [section_similarity(a, [asdict(s) for s in labels.sections]).gap for labels, a in reference]
    gaps = [g for g in gaps if g is not None]
    reference_gap = round(float(np.mean(gaps)), 4) if gaps else None
    # The tempo measure on songs whose tempo is known, over as many seconds
    # as the pieces last: how far the beat tracker itself can be trusted.
    seconds = max((len(a) / sr for a in audios), default=60.0)
    reference_tempo = [reference_tempo_within(a[: int(seconds * 24000)], labels.tempo_bpm) for labels, a in reference]
    # The independent judge on the same cut (issue 28): sections past it drop out, returns included.
    log(f"judging the held-out corpus songs' first {seconds:.0f} s")
    reference_judge = [judge_measures(a[: int(seconds * 24000)], 24000, [asdict(s) for s in labels.sections],
                                      labels.drums, labels.mode if labels.mode in EVAL_MODES else None)
                       for labels, a in reference]
    ref_features = np.concatenate([fidelity_features(a) for _, a in reference])
    temporal = records[0]["models"].get("temporal", {}) if records else {}
    log("measuring the codec and text–audio agreement")
    return {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "summary": summarize_pieces(pieces, reference_gap, reference_tempo, reference_judge),
        "form": summarize_form(pieces),
        "fidelity": {
            "feature_set": FEATURE_SET,
            "reference": [labels.song_id for labels, _ in reference],
            "frechet_distance": round(frechet_distance(np.concatenate(features), ref_features), 3) if features else None,
            "codec": codec_fidelity([a for _, a in reference], temporal.get("codec_plugin") or "stft_magnitude",
                                    config.codec_checkpoint or _bundled("codec"), coarse_codebooks=2,
                                    clip_s=config.codec_clip_s, device=config.device),
        },
        "text_audio": text_agreement([p.prompt for p in prompts], audios,
                                     config.text_audio_checkpoint or _bundled("text_audio"), config.device),
        "pieces": pieces,
    }


def _bundled(name: str) -> Path | None:
    from hiermusic.services.common.bootstrap import bundled_checkpoint

    return bundled_checkpoint(name)


def _models(records: list[dict]) -> dict[str, list[str]]:
    """Level -> the model versions that made this run's pieces."""
    versions: dict[str, list[str]] = {}
    for record in records:
        for level, model in record["models"].items():
            if model["version"] not in versions.setdefault(level, []):
                versions[level].append(model["version"])
    return versions
