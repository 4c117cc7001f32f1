"""`hiermusic data build` and `data show` as a user runs them: composed songs,
a score and a directory of the user's own audio with broken manifest rows;
interrupted and resumed."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import asdict

import numpy as np
import soundfile as sf

from hiermusic.corpus import shards
from hiermusic.corpus.build import BuildConfig, audio_for
from hiermusic.corpus.codec_tokens import encode_audio, load_codec
from tests.integration.mesh_helpers import CLI, REPO, run_cli, wait_for


def _user_audio(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    t = np.arange(44100 * 3) / 44100
    sf.write(audio / "stereo.wav", np.stack([np.sin(2 * np.pi * 220 * t)] * 2, axis=1) * 0.3, 44100)
    sf.write(audio / "mono.flac", np.sin(2 * np.pi * 330 * np.arange(16000 * 2) / 16000) * 0.3, 16000)
    (audio / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    rows = [
        json.dumps({"path": "audio/stereo.wav", "caption": "a sine drone", "sections": [
            {"type": "intro", "start_s": 0.0, "end_s": 1.0}, {"type": "verse", "start_s": 1.0, "end_s": 3.0}]}),
        json.dumps({"path": "audio/missing.wav", "caption": "gone"}),
        json.dumps({"path": "audio/broken.wav", "caption": "corrupt"}),
        json.dumps({"path": "audio/mono.flac"}),
        "{not json",
        json.dumps({"path": "audio/mono.flac", "caption": "a higher drone"}),
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def test_build_with_user_audio_resume_and_show(tmp_path):
    manifest = _user_audio(tmp_path)
    out = tmp_path / "corpus"
    # One composed song (each is about three minutes of audio to render and encode), a score and two user files.
    args = ["data", "build", "--songs", 1, "--scores", 1, "--manifest", manifest, "--out", out,
            "--clusters", 8, "--shard-size", 1, "--workers", 1]

    # Interrupt once the first shard is on disk; the rerun builds only the rest.
    process = subprocess.Popen([*CLI, *map(str, args)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    wait_for(lambda: shards.complete_shards(out) or process.poll() is not None, 300, "first shard")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    first = set(shards.complete_shards(out))
    assert first and not list(out.glob("*.tmp"))

    result = run_cli(args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for line, reason in ((2, "does not exist"), (3, ""), (4, "caption"), (5, "JSON")):
        assert f"manifest line {line}:" in result.stderr and reason.lower() in result.stderr.lower()
    assert len(first) < 4 and f"{len(first)} already built, {4 - len(first)} to build" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["songs"] == 1 + 1 + 2 and summary["sources"]["user"] == 2
    assert "hours by source" in result.stdout and "style" in result.stdout and "tempo (bpm)" in result.stdout

    # The user's files are resampled to 24 kHz: 3 s -> 150 codec frames, 2 s -> 100.
    user = {}
    for name in shards.complete_shards(out):
        tensors = shards.read_tokens(out, name)
        for _, labels in shards.read_index(out, name):
            if labels.source == "user":
                user[labels.caption] = (tensors[f"{labels.song_id}/codes"].shape, labels)
    assert user["a sine drone"][0] == (8, 150) and user["a higher drone"][0] == (8, 100)
    assert [s.type for s in user["a sine drone"][1].sections] == ["intro", "verse"]

    # Audio is not stored: each entry renders (or reads) again to the very tokens stored.
    codec = load_codec()
    for source in ("synthetic", "score", "user"):
        name, labels = next((n, lab) for n in shards.complete_shards(out) for _, lab in shards.read_index(out, n)
                            if lab.source == source)
        stored = shards.read_tokens(out, name)[f"{labels.song_id}/codes"]
        assert np.array_equal(encode_audio(codec, audio_for(labels)), stored), source

    shown = run_cli(["data", "show", out], timeout=120)
    assert shown.returncode == 0 and "4 songs" in shown.stdout and "sections" in shown.stdout

    changed = run_cli([*args[:3], 2, *args[4:]], timeout=120)
    assert changed.returncode == 1 and "other settings" in changed.stderr


def test_a_build_can_speak_another_builds_semantic_tokens(tmp_path):
    """A corpus rebuilt with a new codec keeps the semantic tokens models were trained on."""
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["data", "build", "--songs", 1, "--scores", 0, "--clusters", 8, "--workers", 1]
    assert run_cli([*common, "--out", first], timeout=600).returncode == 0
    tokenizer = first / "semantic_tokenizer.safetensors"

    wrong = run_cli([*common[:-4], "--clusters", 16, "--workers", 1, "--out", second, "--semantic-tokenizer", tokenizer],
                    timeout=120)
    assert wrong.returncode == 1 and "8 clusters" in wrong.stderr and not second.exists()

    # Two shards on two workers: the pool's path (one worker builds in the CLI's own process).
    result = run_cli([*common, "--songs", 1, "--style-free-songs", 1, "--out", second, "--semantic-tokenizer",
                      tokenizer, "--shard-size", 1, "--workers", 2], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"from {tokenizer}" in result.stderr
    ids = [json.loads((d / "semantic_tokenizer.json").read_text())["tokenizer_id"] for d in (first, second)]
    assert ids[0] == ids[1]

    # The style-free song is labelled so and renders again to the tokens stored.
    (name, labels), = [(n, lab) for n in shards.complete_shards(second) for _, lab in shards.read_index(second, n)
                       if lab.meta.get("style_free") == "1"]
    assert labels.song_id == "song-0000001"
    stored = shards.read_tokens(second, name)[f"{labels.song_id}/codes"]
    assert np.array_equal(encode_audio(load_codec(), audio_for(labels)), stored)

    # The song both builds hold, made in the CLI's process and by a pool worker, is the same tokens.
    def tokens(corpus, song_id: str) -> dict:
        name = next(n for n in shards.complete_shards(corpus) for _, lab in shards.read_index(corpus, n)
                    if lab.song_id == song_id)
        found = shards.read_tokens(corpus, name)
        return {key: found[f"{song_id}/{key}"] for key in ("codes", "features")}

    one, pooled = tokens(first, "song-0000000"), tokens(second, "song-0000000")
    assert all(np.array_equal(one[key], pooled[key]) for key in one)


def test_builds_made_before_a_setting_existed_resume(tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    settings = asdict(BuildConfig(songs=1, scores=0, clusters=8, shard_size=1))
    (out / "build.json").write_text(json.dumps({k: v for k, v in settings.items() if k != "style_free_songs"}))
    args = ["data", "build", "--songs", 1, "--scores", 0, "--clusters", 8, "--shard-size", 1, "--workers", 1]
    refused = run_cli([*args, "--style-free-songs", 1, "--out", out], timeout=120)
    assert refused.returncode == 1 and "other settings" in refused.stderr
    result = run_cli([*args, "--out", out], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_an_empty_build_is_refused(tmp_path):
    result = run_cli(["data", "build", "--songs", 0, "--scores", 0, "--out", tmp_path / "corpus"], timeout=120)
    assert result.returncode == 2 and "nothing to build" in result.stderr
    assert not (tmp_path / "corpus").exists()
