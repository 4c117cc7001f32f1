"""User audio: a JSONL manifest over a directory of real WAV/FLAC files, with
broken rows reported by line and every good row still processed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hiermusic.corpus.performance import SAMPLE_RATE
from hiermusic.corpus.user_audio import labels_for, load_audio, read_manifest


def _tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    return 0.4 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate).astype(np.float32)


def _peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(audio))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Real files of several formats and rates, two broken ones, and a manifest."""
    (tmp_path / "sub").mkdir()
    left, right = _tone(440, 2.0, 44100), _tone(440, 2.0, 44100)
    sf.write(tmp_path / "stereo44k.wav", np.stack([left, right], axis=1), 44100)
    sf.write(tmp_path / "mono16k.wav", _tone(1000, 1.5, 16000), 16000, subtype="PCM_16")
    sf.write(tmp_path / "sub" / "clip.flac", np.stack([_tone(660, 1.0, 48000)] * 2, axis=1), 48000)
    whole = (tmp_path / "stereo44k.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "noise.wav").write_bytes(b"RIFF" + os.urandom(600))
    rows = [
        {"path": "stereo44k.wav", "caption": "a steady A4 tone",
         "sections": [{"type": "verse", "start_s": 0, "end_s": 0.8}, {"type": "chorus", "start_s": 0.8, "end_s": 1.4},
                      {"type": "verse", "start_s": 1.4, "end_s": 2.0}]},
        {"path": str(tmp_path / "mono16k.wav"), "caption": "a 1 kHz beep"},  # absolute path
        "",
        {"path": "missing.wav", "caption": "gone"},
        {"path": "noise.wav", "caption": "not audio at all"},
        {"path": "mono16k.wav"},
        '{"path": "stereo44k.wav", "caption": "unterminated',
        {"path": "stereo44k.wav", "caption": "too long", "sections": [{"type": "intro", "start_s": 0, "end_s": 9.0}]},
        {"path": "sub/clip.flac", "caption": "an E5 on a FLAC"},
        {"path": "cut.wav", "caption": "cut short"},
        {"path": "mono16k.wav", "caption": "   "},
        {"path": "mono16k.wav", "caption": "backwards", "sections": [{"type": "a", "start_s": 1.0, "end_s": 0.5}]},
        {"caption": "no path"},
    ]
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_bad_rows_are_reported_by_line_and_good_rows_kept(library: Path):
    items, errors = read_manifest(library / "manifest.jsonl")
    reasons = {e.line: e.reason for e in errors}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 10, 11, 12, 13]
    assert "does not exist" in reasons[4] and "missing.wav" in reasons[4]
    assert "unreadable audio" in reasons[5] and "noise.wav" in reasons[5]
    assert "caption" in reasons[6] and "caption" in reasons[11]
    assert "invalid JSON" in reasons[7]
    assert "bad sections" in reasons[8] and "past the end" in reasons[8]
    assert "truncated" in reasons[10] and "cut.wav" in reasons[10]
    assert "bad sections" in reasons[12]
    assert "path" in reasons[13]
    assert str(errors[0]).startswith("line 4: ")

    assert [i.line for i in items] == [1, 2, 9]
    assert [i.path.name for i in items] == ["stereo44k.wav", "mono16k.wav", "clip.flac"]
    assert all(i.path.is_absolute() for i in items)


def test_good_rows_load_as_24k_mono_of_the_right_length(library: Path):
    items, _ = read_manifest(library / "manifest.jsonl")
    for item, seconds, freq in zip(items, (2.0, 1.5, 1.0), (440, 1000, 660)):
        audio = load_audio(item)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert abs(len(audio) - seconds * SAMPLE_RATE) <= 2
        assert item.duration_s == pytest.approx(seconds, abs=1e-3)
        assert _peak_hz(audio) == pytest.approx(freq, abs=3)  # resampled, not just stretched
        assert 0.3 < np.abs(audio).max() < 0.5  # channels averaged, not summed


def test_labels_carry_caption_sections_and_a_stable_id(library: Path):
    items, _ = read_manifest(library / "manifest.jsonl")
    first = items[0]
    labels = labels_for(first, 2.0)
    assert labels.source == "user" and labels.caption == "a steady A4 tone" and labels.duration_s == 2.0
    assert [(s.type, s.start_s, s.end_s) for s in labels.sections] == [
        ("verse", 0.0, 0.8), ("chorus", 0.8, 1.4), ("verse", 1.4, 2.0)]
    assert [s.repeat_of for s in labels.sections] == [-1, -1, 0]
    assert labels_for(items[1], 1.5).sections == []
    again, _ = read_manifest(library / "manifest.jsonl")
    assert [i.song_id for i in again] == [i.song_id for i in items]
    assert len({i.song_id for i in items}) == 3 and first.song_id.startswith("user-stereo44k-")


def test_missing_manifest_is_an_error_not_a_row(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "nope.jsonl")
