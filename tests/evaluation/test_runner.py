"""Which pieces a rerun of `hiermusic eval` keeps, and when it needs no mesh."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hiermusic.evaluation.prompt_set import load_prompts
from hiermusic.evaluation.runner import EvalConfig, all_kept, run_eval

CONFIG = EvalConfig(limit=3, duration_s=8.0, seed=4)


def _made(out: Path, config: EvalConfig = CONFIG) -> None:
    """Each prompt's WAV and, written last, its plan, as a finished run leaves them."""
    pieces = out / "pieces"
    pieces.mkdir(parents=True)
    for prompt in load_prompts(config.prompts, config.limit):
        (pieces / f"{prompt.id}.wav").write_bytes(b"RIFF")
        record = {"prompt": prompt.prompt, "requested_duration_s": config.duration_s, "seed": config.seed}
        (pieces / f"{prompt.id}.plan.json").write_text(json.dumps(record))


def test_a_finished_run_is_all_kept(tmp_path):
    _made(tmp_path)
    assert all_kept(CONFIG, tmp_path)
    assert all_kept(EvalConfig(limit=2, duration_s=8.0, seed=4), tmp_path)  # fewer prompts: still all there


@pytest.mark.parametrize("change", [{"seed": 5}, {"duration_s": 9.0}, {"limit": 4}])
def test_another_seed_length_or_prompt_is_not_kept(tmp_path, change):
    _made(tmp_path)
    assert not all_kept(EvalConfig(**{"limit": 3, "duration_s": 8.0, "seed": 4, **change}), tmp_path)


@pytest.mark.parametrize("damage", ["no plan", "broken plan", "plan of another kind", "no wav"])
def test_a_piece_cut_short_or_damaged_is_made_again(tmp_path, damage):
    _made(tmp_path)
    wav = tmp_path / "pieces" / "p002.wav"
    plan = wav.with_suffix(".plan.json")
    if damage == "no plan":
        plan.unlink()
    elif damage == "broken plan":
        plan.write_text("{not json")
    elif damage == "plan of another kind":
        plan.write_text("[1, 2]")
    else:
        wav.unlink()
    assert not all_kept(CONFIG, tmp_path)


def test_without_a_mesh_every_piece_must_be_there(tmp_path):
    _made(tmp_path)
    (tmp_path / "pieces" / "p003.plan.json").unlink()
    with pytest.raises(ValueError, match="missing"):
        run_eval(None, CONFIG, tmp_path, log=lambda _: None)


def test_a_refused_form_counts_as_not_honoured():
    from hiermusic.evaluation.prompt_set import AskedAttributes, AskedForm, EvalPrompt
    from hiermusic.evaluation.runner import with_refusals

    asked = EvalPrompt("f1", "verse, chorus", 30.0, AskedAttributes(), AskedForm(order=("verse", "chorus")))
    plain = EvalPrompt("p1", "jazz", 30.0, AskedAttributes())
    refused = [{"id": "f1", "prompt": asked.prompt, "reason": "no room"}]
    form = with_refusals(None, refused, [asked, plain])
    assert form["honoured"] == {"passed": 0, "of": 1, "share": 0.0} and form["refused"] == ["f1"]
    kept = {"honoured": {"passed": 3, "of": 3, "share": 1.0}}
    assert with_refusals(kept, [], [asked]) is kept
    assert with_refusals(None, [{"id": "p1", "prompt": "jazz", "reason": "x"}], [asked, plain]) is None
