"""`hiermusic`: generate a piece, plan one, run the mesh, serve one level,
describe one, build a corpus, train a level, evaluate a mesh."""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from hiermusic.cli.reload_command import add_reload_parser
from hiermusic.cli.security_flags import add_security_flags, mesh_security, server_security
from hiermusic.services.common.limits import LEVELS, MAX_LOCAL_REPLICAS, MAX_MESSAGE_MB, check_duration, check_piece

TRAINER_NAMES = ("codec", "text", "semantic", "acoustic", "temporal")  # orchestrator/train_command.py's TRAINERS


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every command stops what it started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hiermusic", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="compose a piece and write WAV, plan JSON and picture")
    _add_piece_flags(gen)
    gen.add_argument("--out", type=Path, default=Path("song.wav"))
    gen.add_argument("--mesh", help="HOST:PORT of a running Composer (hiermusic up); default: start one here")
    _add_mesh_flags(gen)
    add_security_flags(gen)
    gen.set_defaults(run=_generate)

    pl = sub.add_parser("plan", help="plan a piece without its audio and write the plan file (docs/plans.md)")
    _add_piece_flags(pl)
    pl.add_argument("--out", type=Path, default=Path("song.plan.json"))
    pl.add_argument("--semantic", metavar="HOST:PORT", help="a running semantic service; default: start one here")
    pl.add_argument("--device", default="auto", help="device of the semantic level started here: auto, cpu or cuda")
    pl.add_argument("--log-dir", type=Path, help="the service's log (default: a temporary dir)")
    pl.add_argument("--timeout", type=float, default=60.0, help="seconds the level may take to plan (default 60)")
    pl.add_argument("--semantic-plugin", default="", help=argparse.SUPPRESS)
    pl.add_argument("--semantic-checkpoint", default="", help=argparse.SUPPRESS)
    add_security_flags(pl)
    pl.set_defaults(run=_plan)

    up = sub.add_parser("up", help="run the three levels, Ray scheduler and Composer until interrupted")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=50050, help="Composer port")
    up.add_argument("--metrics-port", type=int, default=9450, help="Composer metrics port")
    up.add_argument("--scheduler-metrics-port", type=int, default=9449, help="the scheduler's metrics port")
    up.add_argument("--max-songs", type=_count(1), help="songs made at once (default: the scheduler config's, 4)")
    up.add_argument("--max-queued-songs", type=_count(0),
                    help="songs that may wait for one of those (default: the config's, 4); more: RESOURCE_EXHAUSTED")
    up.add_argument("--ready-file", type=Path)
    for level in LEVELS:
        up.add_argument(f"--{level}", metavar="HOST:PORT[,HOST:PORT...]",
                        help=f"use a running {level} service (or its replicas) instead of starting one")
    _add_mesh_flags(up)
    add_security_flags(up)
    up.set_defaults(run=_up)

    serve = sub.add_parser("serve", help="serve one level")
    serve.add_argument("level", choices=LEVELS)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0: any free port (see --ready-file)")
    serve.add_argument("--metrics-port", type=int, default=0)
    serve.add_argument("--plugin", default="", help="model plugin name (default: the level's default)")
    serve.add_argument("--checkpoint", type=Path, help="safetensors weights with a JSON card beside them")
    serve.add_argument("--device", default="auto", help="auto, cpu or cuda")
    serve.add_argument("--codec-plugin", default="stft_magnitude", help="temporal level: codec plugin")
    serve.add_argument("--codec-checkpoint", type=Path, help="temporal level: codec weights")
    serve.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    serve.add_argument("--max-queue", type=_count(0), default=8,
                       help="calls that may wait for the model (default 8); more: RESOURCE_EXHAUSTED at once")
    serve.add_argument("--max-message-mb", type=int, default=MAX_MESSAGE_MB)
    serve.add_argument("--drain-s", type=float, default=10.0)
    serve.add_argument("--ready-file", type=Path, help="write port, metrics port and pid here once serving")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--sampling", type=_sampling_file, default={}, metavar="FILE",
                       help="JSON object of sampling settings over the model card's (e.g. {\"top_k\": 40})")
    serve.add_argument("--set", type=_sampling_setting, action="append", default=[], metavar="NAME=VALUE",
                       dest="sampling_set", help="one sampling setting (a JSON value), over --sampling; repeatable")
    add_security_flags(serve, client=False)
    serve.set_defaults(run=_serve)

    data = sub.add_parser("data", help="build or inspect a training corpus")
    data_sub = data.add_subparsers(required=True, metavar="ACTION")
    build = data_sub.add_parser("build", help="render, label and tokenize songs, scores and your audio")
    build.add_argument("--songs", type=int, default=400, help="composed songs")
    build.add_argument("--scores", type=int, default=200, help="pieces from music21's corpus")
    build.add_argument("--style-free-songs", type=int, default=0,
                       help="more composed songs, each at a tempo and with drums or none drawn regardless of its style")
    build.add_argument("--manifest", type=Path, help="JSONL of your own audio: path, caption, optional sections")
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    build.add_argument("--shard-size", type=int, default=16)
    build.add_argument("--codec-plugin", default="stft_magnitude")
    build.add_argument("--codec-checkpoint", type=Path)
    build.add_argument("--clusters", type=int, default=512, help="semantic tokenizer vocabulary")
    build.add_argument("--semantic-tokenizer", type=Path, metavar="FILE",
                       help="tokenize with another build's semantic_tokenizer.safetensors instead of fitting one")
    build.set_defaults(run=_data_build)
    show = data_sub.add_parser("show", help="counts, hours and histograms of a built corpus")
    show.add_argument("dir", type=Path)
    show.set_defaults(run=_data_show)

    tr = sub.add_parser("train", help="train one level's model (or the codec, or the text–audio space) on a corpus")
    tr.add_argument("what", choices=list(TRAINER_NAMES))
    tr.add_argument("--data", type=Path, required=True, help="a corpus built by `hiermusic data build`")
    tr.add_argument("--out", type=Path, required=True, help="run directory: checkpoints, final weights and card")
    tr.add_argument("--config", type=Path, help="JSON with any fields of the trainer's config to change")
    tr.add_argument("--device", default="auto", help="auto, cpu or cuda")
    tr.set_defaults(run=_train)

    bd = sub.add_parser("bundle", help="store a finished training run's weights in weights/ as float16")
    bd.add_argument("what", choices=list(TRAINER_NAMES))
    bd.add_argument("run_dir", type=Path, help="the --out directory of `hiermusic train WHAT`")
    bd.add_argument("--weights", type=Path, help="weights directory (default: the bundled one every service loads)")
    bd.add_argument("--tokenizer", type=Path, help="semantic: the semantic tokenizer the planner speaks "
                                                   "(default: the one in the corpus it trained on)")
    bd.set_defaults(run=_bundle)

    ev = sub.add_parser("eval", help="run a prompt set through a mesh and write a report (or: eval compare A B)")
    ev.add_argument("--prompts", type=Path, help="JSONL prompt set (default: the bundled standard set)")
    ev.add_argument("--limit", type=int, help="only the first N prompts")
    ev.add_argument("--duration", type=float, help="seconds for every piece instead of each prompt's own")
    ev.add_argument("--out", type=Path, default=Path("eval-report"), help="report directory (default eval-report)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--mesh", help="HOST:PORT of a running Composer; default: start one here")
    ev.add_argument("--level-metrics", action="append", default=[], metavar="LEVEL=HOST:PORT",
                    help="a remote level's Prometheus endpoint, for per-level speed (repeatable)")
    ev.add_argument("--reference-songs", type=int, default=6, help="held-out corpus songs to compare with")
    ev.add_argument("--codec-checkpoint", type=Path, help="codec weights to measure (default: bundled)")
    ev.add_argument("--text-audio-checkpoint", type=Path, help="text–audio model (default: bundled)")
    _add_mesh_flags(ev)
    add_security_flags(ev)
    ev.set_defaults(run=_eval)
    ev_sub = ev.add_subparsers(metavar="[compare A B | rule-breaks | codec]")
    cmp = ev_sub.add_parser("compare", help="one page lining two eval runs up")
    cmp.add_argument("run_a", type=Path)
    cmp.add_argument("run_b", type=Path)
    cmp.add_argument("--out", dest="compare_out", type=Path, help="default: B/compare-with-<A>")
    cmp.set_defaults(run=_eval_compare)
    rb = ev_sub.add_parser("rule-breaks", help="how well the modal interchange and displacement measures tell "
                           "corpus songs that carry them from songs that do not")
    rb.add_argument("--songs", type=int, default=8, help="songs carrying each rule-break, and songs carrying none")
    rb.add_argument("--first-seed", type=int, default=0, help="corpus seeds are searched from this one")
    rb.add_argument("--out", dest="rule_breaks_out", type=Path, help="also write the figures to this JSON file")
    rb.set_defaults(run=_eval_rule_breaks)
    cd = ev_sub.add_parser("codec", help="a codec on held-out corpus-style songs: unquantized, all codebooks and "
                           "the coarse ones; key, mode and percussive share by two judges, mel distance, SI-SNR")
    cd.add_argument("--songs", type=int, default=20)
    cd.add_argument("--first-seed", type=int, default=20000, help="songs are composed from this seed on "
                    "(past every corpus build's)")
    cd.add_argument("--seconds", type=float, default=60.0, help="each song cut at this length")
    cd.add_argument("--codec-plugin", default="stft_magnitude")
    cd.add_argument("--codec-checkpoint", type=Path, help="default: the bundled codec weights")
    cd.add_argument("--device", default="cpu")
    cd.add_argument("--out", dest="codec_out", type=Path, help="also write the figures to this JSON file")
    cd.set_defaults(run=_eval_codec)

    describe = sub.add_parser("describe", help="print a level service's ModelInfo")
    describe.add_argument("address", metavar="HOST:PORT")
    describe.add_argument("--timeout", type=float, default=10.0)
    add_security_flags(describe)
    describe.set_defaults(run=_describe)
    add_reload_parser(sub)

    cards = sub.add_parser("cards", help="write the model cards of the bundled weights as one markdown page")
    cards.add_argument("--out", type=Path, default=Path("docs/model-cards.md"))
    cards.set_defaults(run=_cards)
    return parser


def _add_piece_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", default="", help="what to make; with --plan, over the plan's own prompt")
    p.add_argument("--duration", type=float, help="seconds (default 30; with --plan, the plan's)")
    p.add_argument("--seed", type=int, help="default 0; with --plan, the seed the plan file records")
    p.add_argument("--plan", type=Path, metavar="FILE",
                   help="a plan file (a .plan.json, edited or written by hand): what it states is kept")


def _add_mesh_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="device of the levels started here: auto, cpu or cuda")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting a local one")
    p.add_argument("--scheduler-config", type=_scheduler_config_file, help="JSON: chunking, deadlines, actor resources")
    p.add_argument("--log-dir", type=Path, help="service logs and mesh.json (default: a temporary dir)")
    p.add_argument("--timeout", type=float, default=0, help="per level call deadline in seconds (0: config)")
    p.add_argument("--replicas", type=_replicas_flag, action="append", default=[], metavar="LEVEL=N",
                   help="start N replicas of a level here, calls balanced over them (repeatable)")
    for level in LEVELS:
        p.add_argument(f"--{level}-plugin", default="", help=argparse.SUPPRESS)
        p.add_argument(f"--{level}-checkpoint", default="", help=argparse.SUPPRESS)


def _replicas_flag(text: str) -> tuple[str, int]:
    level, sep, count = text.partition("=")
    if not sep or level not in LEVELS or not count.isdigit() or not 1 <= int(count) <= MAX_LOCAL_REPLICAS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected LEVEL=N with LEVEL one of {', '.join(LEVELS)} and N from 1 to {MAX_LOCAL_REPLICAS}")
    return level, int(count)


def _count(least: int):
    """An argparse type: an integer of at least `least`."""
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < least:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from {least}")
        return int(text)
    return parse


def _scheduler_config_file(path: str):  # -> SchedulerConfig
    """--scheduler-config, read while the flags are parsed: a bad file is a
    usage error (exit 2) naming the field, before anything starts."""
    from hiermusic.orchestrator.config import SchedulerConfig, SchedulerConfigError

    try:
        return SchedulerConfig.from_file(Path(path))
    except SchedulerConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _scheduler_config(args: argparse.Namespace):
    from hiermusic.orchestrator.config import SchedulerConfig

    config = args.scheduler_config or SchedulerConfig()
    if args.timeout:
        config.rpc_deadline_s = args.timeout
    for flag in ("max_songs", "max_queued_songs", "scheduler_metrics_port"):  # `up` only
        if getattr(args, flag, None) is not None:
            setattr(config, flag.replace("scheduler_", ""), getattr(args, flag))
    return config


def _launches(args: argparse.Namespace, levels: list[str], security=None):  # security: ServerSecurity
    from hiermusic.orchestrator.mesh import LevelLaunch, local_threads
    from hiermusic.services.common.security import ServerSecurity

    replicas = dict(getattr(args, "replicas", []))
    return [
        LevelLaunch(
            level,
            plugin=getattr(args, f"{level}_plugin"),
            checkpoint=getattr(args, f"{level}_checkpoint"),
            device=args.device,
            threads=local_threads(level, replicas.get(level, 1)),
            replicas=replicas.get(level, 1),
            security=security or ServerSecurity(),
        )
        for level in levels
    ]


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _piece(args: argparse.Namespace):  # -> (PiecePlan | None, duration_s, seed)
    """--plan's plan, the duration (--duration, else 30 s, or with --plan 0:
    the plan's) and the seed (--seed, else the plan file's, else 0), after
    checking the flags and the file; raises ValueError (PlanFileError among
    them) naming the flag or the file's field."""
    from hiermusic.orchestrator.plan_file import read_plan_file

    if args.plan is None:
        duration = 30.0 if args.duration is None else args.duration
        check_piece(args.prompt, duration, duration_name="--duration")
        return None, duration, args.seed or 0
    if args.duration is not None:
        check_duration(args.duration, "--duration")
    plan, extras = read_plan_file(args.plan)
    return plan, args.duration or 0.0, extras.get("seed", 0) if args.seed is None else args.seed


def _generate(args: argparse.Namespace) -> int:
    from hiermusic.orchestrator.composer_service import validate_request
    from hiermusic.orchestrator.song_writer import SongWriter
    from hiermusic.v1 import composer_pb2

    if args.out.suffix.lower() != ".wav":
        return _fail(f"--out {args.out}: expected a .wav path", 2)
    try:
        plan, duration, seed = _piece(args)
        request = validate_request(
            composer_pb2.ComposeRequest(prompt=args.prompt, duration_s=duration, seed=seed, plan=plan))
    except ValueError as err:
        return _fail(str(err), 2)
    writer = SongWriter(args.out, args.prompt, seed, request.duration_s)
    code = _compose_songs(args, lambda composer: composer.compose(request, writer.handle))
    if code:
        return code
    record = writer.finish()
    _write_picture(args.out, record)
    _report(args.out, writer, record)
    return 0


def _plan(args: argparse.Namespace) -> int:
    from hiermusic.cli.plan_command import PlanCommandError, form_text, make_plan, plan_request
    from hiermusic.orchestrator.level_address import parse_address
    from hiermusic.orchestrator.plan_file import write_plan_file
    from hiermusic.services.semantic.plan_request import asked_piece

    if not args.out.name.endswith(".json"):
        return _fail(f"--out {args.out}: expected a .json path, such as song.plan.json", 2)
    try:
        plan, duration, seed = _piece(args)
        if args.semantic:
            parse_address(args.semantic)
        asked_piece(args.prompt, duration, plan)  # what the level would refuse, refused before it starts
        server_security, client_security = mesh_security(args, starts_services=not args.semantic)
    except ValueError as err:  # SecurityError among them
        return _fail(str(err), 2)
    run_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="hiermusic-plan-"))
    if not args.semantic:
        print(f"starting the semantic service (log in {run_dir})", file=sys.stderr)
    try:
        made = make_plan(plan_request(args.prompt, duration, seed, plan), run_dir,
                         _launches(args, ["semantic"], server_security)[0], args.semantic, args.timeout,
                         client_security)
    except PlanCommandError as err:
        if not args.semantic:
            print(f"service log kept in {run_dir}", file=sys.stderr)
        return _fail(str(err), 2 if err.refused else 1)
    if args.semantic or args.log_dir is None:
        shutil.rmtree(run_dir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_plan_file(args.out, made, {"seed": seed})
    print(form_text(made))
    print(f"wrote {args.out}: edit it, then `hiermusic generate --plan {args.out}`", file=sys.stderr)
    return 0


def _compose_songs(args: argparse.Namespace, work) -> int:
    """Runs `work(composer)` against `--mesh` or a mesh started here, and
    stops what it started; returns the exit code (2: a request the mesh
    refused, 1: a failure). Service logs stay behind only when it failed or
    --log-dir asked for them."""
    from hiermusic.orchestrator.compose_session import (
        ComposeError,
        EmbeddedComposer,
        RemoteComposer,
    )

    try:
        server_security, client_security = mesh_security(args, starts_services=not args.mesh)
    except ValueError as err:  # SecurityError
        return _fail(str(err), 2)
    run_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="hiermusic-"))
    if args.mesh:
        composer = RemoteComposer(args.mesh, client_security)
    else:
        print(f"starting the semantic, acoustic and temporal services (logs in {run_dir})", file=sys.stderr)
        composer = EmbeddedComposer(run_dir, _launches(args, list(LEVELS), server_security), _scheduler_config(args),
                                    args.ray_address, client_security)
    code = 1
    try:
        with composer:
            _print_models(composer.infos.values())
            work(composer)
        code = 0
    except ComposeError as err:
        code = _fail(str(err), 2 if err.refused else 1)
    finally:
        if args.mesh or (code == 0 and args.log_dir is None):
            shutil.rmtree(run_dir, ignore_errors=True)
        elif code:
            print(f"service logs kept in {run_dir}", file=sys.stderr)
    return code


def _print_models(infos) -> None:
    for info in infos:
        state = "trained" if info.trained else "UNTRAINED (random weights: expect noise)"
        print(f"  {info.level:9s} {info.plugin} {info.model_version} on {info.device}: {state}", file=sys.stderr)


def _write_picture(out: Path, record: dict) -> None:
    import soundfile as sf

    from hiermusic.orchestrator.song_picture import draw

    audio, sr = sf.read(out, dtype="float32")
    draw(audio, sr, record["sections"], record["prompt"][:90], out.with_suffix(".png"))


def _report(out: Path, writer, record: dict) -> None:
    t = record["timings"]
    print(
        f"wrote {out} ({writer.samples / record['sample_rate']:.2f} s, {record['sample_rate']} Hz mono), "
        f"{writer.plan_path.name} and {out.with_suffix('.png').name}; "
        f"{t['wall_s']:.1f} s wall, first audio after {t['first_audio_s']:.1f} s, "
        f"real-time factor {t['real_time_factor']:.2f}",
        file=sys.stderr,
    )
    if record["untrained_levels"]:
        print(
            f"NOTE: untrained weights in {', '.join(record['untrained_levels'])}: this audio is not music yet",
            file=sys.stderr,
        )


def _up(args: argparse.Namespace) -> int:
    import ray

    from hiermusic.orchestrator import composer_service
    from hiermusic.orchestrator.level_address import parse_address
    from hiermusic.orchestrator.mesh import LocalMesh, MeshError
    from hiermusic.orchestrator.ray_runtime import ray_session, start_scheduler
    from hiermusic.orchestrator.song import unwrap
    from hiermusic.services.common.admission import AdmissionLimits
    from hiermusic.services.common.log import configure_logging
    from hiermusic.services.common.server import ServerConfig, serve

    try:
        given = {level: parse_address(getattr(args, level)) for level in LEVELS if getattr(args, level)}
        server_security, client_security = mesh_security(args, starts_services=True)
    except ValueError as err:  # SecurityError among them
        return _fail(str(err), 2)
    elsewhere = sorted(set(given) & {level for level, _ in args.replicas})
    if elsewhere:
        return _fail(f"--replicas {', '.join(elsewhere)}: that level runs elsewhere (--{elsewhere[0]}); "
                     "name its replicas there as HOST:PORT,HOST:PORT", 2)
    configure_logging("composer")
    run_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="hiermusic-up-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    mesh = LocalMesh(run_dir, _launches(args, [level for level in LEVELS if level not in given], server_security))
    try:
        mesh.start()
        with ray_session(args.ray_address):
            addresses = {**mesh.wait_ready(), **given}
            config = _scheduler_config(args)
            scheduler = start_scheduler(addresses, config, str(run_dir / "scheduler.log"), client_security)
            ray.get(scheduler.describe.remote())  # refuse to start on a mismatched mesh
            mesh_info = {"levels": addresses, "scheduler_metrics_port": ray.get(scheduler.metrics_port.remote())}
            (run_dir / "scheduler.json").write_text(json.dumps(mesh_info))
            print(json.dumps(mesh_info), file=sys.stderr)
            serve(
                "composer",
                composer_service.SERVICE_NAME,
                lambda server: composer_service.add_to_server(scheduler, server),
                composer_service.composer_info(),
                ServerConfig(host=args.host, port=args.port, metrics_port=args.metrics_port, ready_file=args.ready_file,
                             admission=AdmissionLimits(config.max_songs, config.max_queued_songs),
                             security=server_security),
            )
    except (MeshError, ray.exceptions.RayError) as err:
        return _fail(str(unwrap(err)) if isinstance(err, ray.exceptions.RayTaskError) else str(err))
    finally:
        mesh.stop()
    return 0


def _sampling_file(path: str) -> dict:
    """--sampling, read while the flags are parsed; which fields the level
    has is checked when its plugin loads (unknown ones refused by name)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise argparse.ArgumentTypeError(f"{path}: {err}") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"{path}: expected a JSON object of sampling settings")
    return data


def _sampling_setting(text: str) -> tuple[str, object]:
    """--set NAME=VALUE, the value read as JSON."""
    name, sep, value = text.partition("=")
    try:
        if sep and name.strip():
            return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE with a JSON value (40, 0.5, true, [0.5, 0])")


def _serve(args: argparse.Namespace) -> int:
    from hiermusic.cli.serve_command import run_level
    from hiermusic.services.common.admission import AdmissionLimits
    from hiermusic.services.common.bootstrap import LevelConfig
    from hiermusic.services.common.plugins import UnknownPluginError
    from hiermusic.services.common.server import ServerConfig

    try:
        security = server_security(args)
    except ValueError as err:  # SecurityError
        return _fail(str(err), 2)
    config = LevelConfig(
        level=args.level,
        plugin=args.plugin,
        checkpoint=args.checkpoint,
        device=args.device,
        codec_plugin=args.codec_plugin,
        codec_checkpoint=args.codec_checkpoint,
        threads=args.threads,
        log_level=args.log_level,
        server=ServerConfig(
            host=args.host,
            port=args.port,
            metrics_port=args.metrics_port,
            max_message_mb=args.max_message_mb,
            admission=AdmissionLimits(running=1, queued=args.max_queue),
            drain_s=args.drain_s,
            ready_file=args.ready_file,
            security=security,
        ),
        sampling=args.sampling | dict(args.sampling_set),
    )
    try:
        run_level(config)
    except (UnknownPluginError, FileNotFoundError, ValueError, RuntimeError) as err:
        return _fail(f"cannot start the {args.level} service: {err}")
    return 0


def _data_build(args: argparse.Namespace) -> int:
    import os

    from hiermusic.corpus.build import BuildConfig, build, progress_log
    from hiermusic.corpus.show import report

    if min(args.songs, args.scores, args.style_free_songs) < 0 or args.shard_size < 1:
        return _fail("--songs, --style-free-songs and --scores must be >= 0 and --shard-size >= 1", 2)
    if args.manifest and not args.manifest.is_file():
        return _fail(f"--manifest {args.manifest} does not exist", 2)
    if not (args.songs or args.style_free_songs or args.scores or args.manifest):
        return _fail("nothing to build: give --songs, --style-free-songs, --scores or --manifest", 2)
    if args.semantic_tokenizer and not args.semantic_tokenizer.is_file():
        return _fail(f"--semantic-tokenizer {args.semantic_tokenizer} does not exist", 2)
    config = BuildConfig(
        songs=args.songs,
        scores=args.scores,
        style_free_songs=args.style_free_songs,
        manifest=str(args.manifest.resolve()) if args.manifest else "",
        seed=args.seed,
        shard_size=args.shard_size,
        codec_plugin=args.codec_plugin,
        codec_checkpoint=str(args.codec_checkpoint.resolve()) if args.codec_checkpoint else "",
        clusters=args.clusters,
        semantic_tokenizer=str(args.semantic_tokenizer.resolve()) if args.semantic_tokenizer else "",
    )
    try:
        build(config, args.out, args.workers or os.cpu_count() or 1, progress_log)
    except ValueError as err:
        return _fail(str(err))
    print(report(args.out))
    return 0


def _data_show(args: argparse.Namespace) -> int:
    from hiermusic.corpus.show import report

    if not args.dir.is_dir():
        return _fail(f"{args.dir} is not a directory", 2)
    print(report(args.dir))
    return 0


def _train(args: argparse.Namespace) -> int:
    from hiermusic.cli.train_command import TrainConfigError, load_train_config, run_training
    from hiermusic.services.common.nn import resolve_device

    if not (args.data / "build.json").is_file():
        return _fail(f"--data {args.data}: not a corpus (no build.json); make one with `hiermusic data build`", 2)
    try:
        config = load_train_config(args.what, args.config)
        device = str(resolve_device(args.device))
    except (TrainConfigError, RuntimeError, ValueError) as err:
        return _fail(str(err), 2)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(f"training {args.what} on {args.data} into {args.out} ({device}); rerun the same command to resume")
    try:
        result = run_training(args.what, args.data, args.out, config, device, log)
    except (ValueError, OSError) as err:  # a bad corpus, a missing checkpoint named in the config
        return _fail(str(err))
    print(json.dumps(result, indent=2))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from hiermusic.cli.bundle_command import BUDGET_MB, bundle
    from hiermusic.services.common.bootstrap import WEIGHTS_DIR

    try:
        done = bundle(args.what, args.run_dir, args.weights or WEIGHTS_DIR, tokenizer=args.tokenizer)
    except (ValueError, OSError) as err:
        return _fail(str(err))
    print(f"{done.path}: {done.version}, {done.megabytes:.1f} MB (float16); bundled weights now "
          f"{done.total_megabytes:.1f} of {BUDGET_MB:g} MB")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from hiermusic.evaluation.prompt_set import PromptSetError, load_prompts
    from hiermusic.evaluation.runner import EvalConfig, all_kept, run_eval

    if args.limit is not None and args.limit < 1:
        return _fail("--limit must be at least 1", 2)
    try:
        if args.duration is not None:
            check_duration(args.duration, "--duration")
    except ValueError as err:
        return _fail(str(err), 2)
    metrics = {}
    for item in args.level_metrics:
        level, _, endpoint = item.partition("=")
        if level not in LEVELS or not endpoint:
            return _fail(f"--level-metrics {item}: expected LEVEL=HOST:PORT with LEVEL one of {', '.join(LEVELS)}", 2)
        metrics[level] = endpoint
    try:
        load_prompts(args.prompts, args.limit)  # a broken prompt file fails before any mesh starts
    except (PromptSetError, OSError) as err:
        return _fail(str(err), 2)
    config = EvalConfig(
        prompts=args.prompts, limit=args.limit, duration_s=args.duration, seed=args.seed,
        reference_songs=args.reference_songs, codec_checkpoint=args.codec_checkpoint,
        text_audio_checkpoint=args.text_audio_checkpoint,
        device="cpu" if args.device == "auto" else args.device, extra_metrics=metrics,
    )

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if all_kept(config, args.out):
        log(f"every piece is already in {args.out}: measuring them again, no mesh needed")
        run_eval(None, config, args.out, log)
        return 0
    return _compose_songs(args, lambda composer: run_eval(composer, config, args.out, log))


def _eval_rule_breaks(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from hiermusic.evaluation.rule_breaks import rule_break_separation

    if args.songs < 1:
        return _fail("--songs must be at least 1", 2)
    results = rule_break_separation(args.songs, args.first_seed, log=lambda m: print(m, file=sys.stderr))
    print("| measure | units labelled / not | AUC | mean score labelled / not | song AUC | labelled unit highest |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.measure} | {r.labelled_units} / {r.unlabelled_units} | {r.auc} | {r.mean_labelled} / "
              f"{r.mean_unlabelled} | {r.song_auc} | {r.labelled_highest} |")
    if args.rule_breaks_out:
        args.rule_breaks_out.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0


def _eval_codec(args: argparse.Namespace) -> int:
    from hiermusic.corpus.codec_tokens import load_codec
    from hiermusic.evaluation.codec_paths import codec_paths
    from hiermusic.services.common.bootstrap import bundled_checkpoint

    if args.songs < 1 or not args.seconds > 0:
        return _fail("--songs must be at least 1 and --seconds above 0", 2)
    codec = load_codec(args.codec_plugin, args.codec_checkpoint or bundled_checkpoint("codec"), args.device)
    print(f"codec {codec.name} {codec.version} ({codec.codec_id}); {args.songs} songs of {args.seconds:g} s "
          f"from seed {args.first_seed}", file=sys.stderr)
    found = codec_paths(codec, args.songs, args.first_seed, args.seconds, log=lambda m: print(m, file=sys.stderr))
    print("| path | labelled mode heard (eval tool / judge) | labelled key heard (tool / judge) | original's key "
          "kept (tool / judge) | percussive share drums / none | mel distance | SI-SNR dB |")
    print("|---|---|---|---|---|---|---|")
    for path, r in found.items():
        print(f"| {path} | {r['tool_mode_rate']} / {r['judge_mode_rate']} | {r['tool_key_rate']} / "
              f"{r['judge_key_rate']} | {r['tool_kept']} / {r['judge_kept']} | {r['percussive_share_drums']} / "
              f"{r['percussive_share_no_drums']} | {r['mel_distance']} | {r['si_snr_db']} |")
    if args.codec_out:
        record = {"codec": {"plugin": codec.name, "version": codec.version, "codec_id": codec.codec_id},
                  "songs": args.songs, "first_seed": args.first_seed, "seconds": args.seconds, "paths": found}
        args.codec_out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


def _eval_compare(args: argparse.Namespace) -> int:
    from hiermusic.evaluation.compare import CompareError, compare

    out = args.compare_out or args.run_b / f"compare-with-{args.run_a.resolve().name}"
    try:
        result = compare(args.run_a, args.run_b, out)
    except CompareError as err:
        return _fail(str(err), 2)
    changed = ", ".join(result["changed_levels"]) or "none"
    print(f"wrote {out / 'compare.md'} (levels whose model changed: {changed})", file=sys.stderr)
    return 0


def _describe(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from hiermusic.orchestrator.level_client import SERVICES
    from hiermusic.v1 import contract_pb2

    try:
        _, client_security = mesh_security(args, starts_services=False)
    except ValueError as err:  # SecurityError
        return _fail(str(err), 2)
    with client_security.channel(args.address) as channel:
        for service in SERVICES.values():
            rpc = channel.unary_unary(
                f"/{service}/Describe",
                request_serializer=contract_pb2.DescribeRequest.SerializeToString,
                response_deserializer=contract_pb2.ModelInfo.FromString,
            )
            try:
                info = rpc(contract_pb2.DescribeRequest(), timeout=args.timeout)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                    continue
                return _fail(f"{args.address}: {err.code().name}: {err.details()}")
            print(json.dumps(MessageToDict(info, preserving_proto_field_name=True), indent=2))
            return 0
    return _fail(f"{args.address} serves no hiermusic level")


def _cards(args: argparse.Namespace) -> int:
    from hiermusic.cli.model_cards import write_model_cards
    from hiermusic.services.common.bootstrap import WEIGHTS_DIR

    changed = write_model_cards(WEIGHTS_DIR, args.out)
    print(f"{args.out}: {'written' if changed else 'already up to date'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
