"""`hiermusic data build`: render, label and tokenize a corpus into shards.

Pass 1 renders each item (composed song, score or user file), encodes it with
the codec and computes frame features, one shard at a time across worker
processes. Pass 2 fits the semantic k-means on the training split. Pass 3
assigns semantic tokens. Every step writes whole files, so an interrupted
build resumes where it stopped."""
from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hiermusic.corpus import shards
from hiermusic.corpus.labels import SongLabels
from hiermusic.corpus.semantic_tokenizer import SemanticTokenizer
from hiermusic.corpus.split import split_of

TOKENIZER_FILE = "semantic_tokenizer.safetensors"
MAX_FIT_FRAMES = 300_000  # k-means sees at most this many training frames
SONG_KEY_STRIDE = 10_000_000  # a build's songs are seeds seed * stride + i


@dataclass
class BuildConfig:
    songs: int
    scores: int
    manifest: str = ""
    seed: int = 0
    shard_size: int = 16
    codec_plugin: str = "stft_magnitude"
    codec_checkpoint: str = ""
    clusters: int = 512
    # A fitted tokenizer (another build's semantic_tokenizer.safetensors) to
    # tokenize with instead of fitting one, so models trained on both builds
    # speak the same semantic tokens (a build with a newly trained codec).
    semantic_tokenizer: str = ""
    # Composed songs whose tempo and drums are drawn regardless of their style
    # (corpus.song_spec.style_free), after the `songs` ones.
    style_free_songs: int = 0


@dataclass(frozen=True)
class Item:
    kind: str  # song | style-free song | score | user
    key: object  # song seed, ScoreRef or UserItem


def plan_items(config: BuildConfig, log=print) -> list[Item]:
    from hiermusic.corpus.scores import list_scores
    from hiermusic.corpus.user_audio import read_manifest

    first = config.seed * SONG_KEY_STRIDE
    items = [Item("song", first + i) for i in range(config.songs)]
    items += [Item("style-free song", first + config.songs + i) for i in range(config.style_free_songs)]
    if config.scores:
        items += [Item("score", ref) for ref in list_scores(config.scores, config.seed)]
    if config.manifest:
        good, errors = read_manifest(Path(config.manifest))
        for error in errors:
            log(f"manifest line {error.line}: {error.reason} (skipped)")
        items += [Item("user", row) for row in good]
    return items


SCORE_SEED = 0  # instrumentation and tempo of scores are drawn from (this seed, the score)


def render_item(item: Item) -> tuple[np.ndarray, SongLabels]:
    """Audio (float32, 24 kHz) and labels of one item; scores and songs are
    re-rendered from their seed, never stored as audio."""
    if item.kind in ("song", "style-free song"):
        from hiermusic.corpus.arranger import arrange
        from hiermusic.corpus.song_spec import compose_spec, style_free
        from hiermusic.corpus.synth import render

        spec = compose_spec(item.key)
        performance, labels = arrange(style_free(spec) if item.kind == "style-free song" else spec)
        return render(performance, seed=item.key), labels
    if item.kind == "score":
        from hiermusic.corpus.scores import load_score
        from hiermusic.corpus.synth import render

        performance, labels = load_score(item.key, seed=SCORE_SEED)
        return render(performance, seed=SCORE_SEED), labels
    from hiermusic.corpus.user_audio import labels_for, load_audio

    audio = load_audio(item.key)
    return audio, labels_for(item.key, len(audio) / 24000)


def item_for(labels: SongLabels) -> Item:
    """The item a corpus entry was made from, recovered from its labels."""
    meta = labels.meta
    if labels.source == "synthetic":
        from hiermusic.corpus.song_spec import GENERATOR

        if meta.get("generator") != GENERATOR:
            raise ValueError(f"{labels.song_id} was composed by {meta.get('generator')}, this is {GENERATOR}")
        return Item("style-free song" if meta.get("style_free") == "1" else "song", int(meta["seed"]))
    if labels.source == "score":
        from hiermusic.corpus.scores import ScoreRef

        number = int(meta["tune_number"]) if "tune_number" in meta else None
        return Item("score", ScoreRef(meta["collection"], meta["corpus_path"], number))
    from hiermusic.corpus.user_audio import UserItem

    return Item("user", UserItem(Path(meta["path"]), labels.caption, labels.duration_s))


def audio_for(labels: SongLabels) -> np.ndarray:
    """The audio of a corpus entry, rendered again (or read again, for user files)."""
    return render_item(item_for(labels))[0]


_codec = None


def _worker_init(plugin: str, checkpoint: str) -> None:
    import torch

    from hiermusic.corpus.codec_tokens import load_codec

    torch.set_num_threads(1)  # one process per core
    global _codec
    _codec = load_codec(plugin, Path(checkpoint) if checkpoint else None)


def _build_shard(job: tuple[Path, str, list[Item], int]) -> dict:
    from hiermusic.corpus.codec_tokens import encode_audio
    from hiermusic.corpus.semantic_features import frame_features

    out, name, items, seed = job
    songs, failures = [], []
    for item in items:
        try:
            audio, labels = render_item(item)
        except Exception as err:  # a broken score must not sink the shard
            failures.append(f"{item.kind} {item.key}: {err}")
            continue
        songs.append(
            shards.ShardSong(
                labels=labels,
                split=split_of(labels.song_id, seed),
                codes=encode_audio(_codec, audio),
                features=frame_features(audio).astype(np.float16),
            )
        )
    meta = {"codec_plugin": _codec.name, "codec_version": _codec.version, "codec_trained": _codec.trained,
            "codec_id": _codec.codec_id}
    shards.write_shard(out, name, songs, meta)
    return {"name": name, "songs": len(songs), "seconds": sum(s.labels.duration_s for s in songs), "failures": failures}


def build(config: BuildConfig, out: Path, workers: int, log=print) -> dict:
    out = Path(out)
    if config.semantic_tokenizer:
        _given_tokenizer(config)  # refused before hours of rendering, not after
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(config, out)
    items = plan_items(config, log)
    groups = [items[i : i + config.shard_size] for i in range(0, len(items), config.shard_size)]
    done = set(shards.complete_shards(out))
    jobs = [(out, shards.shard_name(i), g, config.seed) for i, g in enumerate(groups) if shards.shard_name(i) not in done]
    log(f"{len(items)} items in {len(groups)} shards; {len(groups) - len(jobs)} already built, {len(jobs)} to build")

    started, seconds = time.monotonic(), 0.0
    for n, result in enumerate(_built_shards(config, jobs, workers), 1):
        seconds += result["seconds"]
        for failure in result["failures"]:
            log(f"skipped {failure}")
        elapsed = time.monotonic() - started
        eta = elapsed / n * (len(jobs) - n)
        bar = "#" * (30 * n // len(jobs))
        log(f"[{bar:<30}] {n}/{len(jobs)} shards, {seconds / 3600:.2f} h of audio in "
            f"{elapsed / 60:.1f} min, about {eta / 60:.1f} min left ({result['name']}: {result['songs']} songs)")

    tokenizer = _fit_tokenizer(config, out, log)
    _assign_semantic(out, tokenizer, log)
    summary = summarize(out)
    summary["build_minutes_this_run"] = round((time.monotonic() - started) / 60, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _built_shards(config: BuildConfig, jobs: list, workers: int) -> Iterator[dict]:
    """Each job's result as it ends. One worker builds in this process: a
    pool of one would only add a process to start, with its imports (about
    10 s of CPU)."""
    if not jobs:
        return
    if workers == 1:
        import torch

        threads = torch.get_num_threads()
        _worker_init(config.codec_plugin, config.codec_checkpoint)
        try:
            yield from map(_build_shard, jobs)
        finally:
            torch.set_num_threads(threads)
        return
    ctx = mp.get_context("spawn")  # torch and fork do not mix
    with ctx.Pool(workers, _worker_init, (config.codec_plugin, config.codec_checkpoint)) as pool:
        yield from pool.imap_unordered(_build_shard, jobs)


def _check_resume(config: BuildConfig, out: Path) -> None:
    path = out / "build.json"
    if path.exists():
        # Settings added since a build was made read as their defaults.
        previous = {**asdict(BuildConfig(songs=0, scores=0)), **json.loads(path.read_text())}
        if previous != asdict(config):
            raise ValueError(
                f"{out} was built with other settings ({previous}); use a new directory or the same settings"
            )
    else:
        path.write_text(json.dumps(asdict(config), indent=2))


def _given_tokenizer(config: BuildConfig) -> SemanticTokenizer:
    tokenizer = SemanticTokenizer.load(Path(config.semantic_tokenizer))
    if tokenizer.card.clusters != config.clusters:
        raise ValueError(f"--semantic-tokenizer {config.semantic_tokenizer} has {tokenizer.card.clusters} clusters, "
                         f"not the {config.clusters} of --clusters")
    return tokenizer


def _fit_tokenizer(config: BuildConfig, out: Path, log) -> SemanticTokenizer:
    path = out / TOKENIZER_FILE
    if path.exists():
        return SemanticTokenizer.load(path)
    if config.semantic_tokenizer:
        tokenizer = _given_tokenizer(config)
        log(f"semantic tokenizer {tokenizer.tokenizer_id} from {config.semantic_tokenizer}")
        tokenizer.save(path)
        return tokenizer
    rng = np.random.default_rng(config.seed)
    frames, songs = [], 0
    for name in shards.complete_shards(out):
        tensors = shards.read_tokens(out, name)
        for split, labels in shards.read_index(out, name):
            if split == "train":
                frames.append(tensors[f"{labels.song_id}/features"].astype(np.float32))
                songs += 1
    features = np.concatenate(frames)
    if len(features) > MAX_FIT_FRAMES:
        features = features[rng.choice(len(features), MAX_FIT_FRAMES, replace=False)]
    log(f"fitting the semantic tokenizer: {config.clusters} clusters on {len(features)} frames of {songs} songs")
    tokenizer = SemanticTokenizer.fit(features, songs, config.clusters, config.seed)
    tokenizer.save(path)
    return tokenizer


def _assign_semantic(out: Path, tokenizer: SemanticTokenizer, log) -> None:
    for name in shards.complete_shards(out):
        if (out / f"{name}.semantic.safetensors").exists():
            continue
        tensors = shards.read_tokens(out, name)
        tokens = {
            labels.song_id: tokenizer.assign(tensors[f"{labels.song_id}/features"].astype(np.float32))
            for _, labels in shards.read_index(out, name)
        }
        shards.write_semantic(out, name, tokens, tokenizer.tokenizer_id)
    log(f"semantic tokens assigned with {tokenizer.tokenizer_id}")


def summarize(out: Path) -> dict:
    """Counts, hours and histograms over every complete shard."""
    from collections import Counter

    splits, sources, styles, sections, tempos = Counter(), Counter(), Counter(), Counter(), Counter()
    hours: Counter = Counter()
    for name in shards.complete_shards(out):
        for split, labels in shards.read_index(out, name):
            splits[split] += 1
            sources[labels.source] += 1
            hours[labels.source] += labels.duration_s / 3600
            styles[labels.style or "-"] += 1
            sections.update(s.type for s in labels.sections)
            if labels.tempo_bpm:
                tempos[f"{int(labels.tempo_bpm // 20 * 20)}-{int(labels.tempo_bpm // 20 * 20 + 19)}"] += 1
    return {
        "songs": sum(splits.values()),
        "hours": round(sum(hours.values()), 3),
        "hours_by_source": {k: round(v, 3) for k, v in hours.items()},
        "splits": dict(splits),
        "sources": dict(sources),
        "styles": dict(styles),
        "sections": dict(sections),
        "tempo_bpm": dict(sorted(tempos.items(), key=lambda kv: int(kv[0].split("-")[0]))),
    }


def progress_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
