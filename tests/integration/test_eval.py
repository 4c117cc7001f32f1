"""`hiermusic eval` as a user runs it: six prompts against a running
Composer (the session's mesh) with its levels' metrics endpoints, a rerun
that keeps them, then a run on an embedded mesh with the acoustic model
swapped, then `eval compare`."""
from __future__ import annotations

import json

import pytest
import torch

from hiermusic.services.acoustic.coarse_model import CoarseConfig, CoarseTransformer
from hiermusic.services.common.checkpoint import save_checkpoint
from hiermusic.services.common.level import card_for
from hiermusic.services.common.nn import TransformerConfig
from tests.integration.mesh_helpers import bundled_token_space, run_cli

PNG = b"\x89PNG"


# One held-out reference song: each costs seconds of rendering and measuring
# (the codec on it included), and one is enough to fill the report's reference figures.
REFERENCE_SONGS = 1


def _eval(out, *extra) -> dict:
    result = run_cli(["eval", "--out", out, "--reference-songs", REFERENCE_SONGS, "--device", "cpu", *extra],
                     timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((out / "report.json").read_text())


PIECES = 6  # the first six standard prompts ask for a tempo (3), a mode (2) and no drums (2)


@pytest.fixture(scope="module")
def six(tmp_path_factory, mesh):
    levels, composer = mesh
    metrics = [f"--level-metrics={level}=127.0.0.1:{p.ready['metrics_port']}" for level, p in levels.processes.items()]
    out = tmp_path_factory.mktemp("eval") / "six"
    return out, _eval(out, "--limit", PIECES, "--duration", 8, "--mesh", composer.address, *metrics)


def test_six_prompts_write_the_report_and_pictures(six):
    out, report = six
    assert len(report["pieces"]) == PIECES and report["summary"]["pieces"] == PIECES
    for piece in report["pieces"]:
        assert (out / piece["audio"]).stat().st_size > 8 * 24000  # 16-bit, at least 8 s
        picture = (out / piece["picture"]).read_bytes()
        assert picture[:4] == PNG and len(picture) > 20_000
        assert piece["measures"]["duration_s"] == pytest.approx(8.0, abs=0.1)
        assert piece["measures"]["continuity"]["joins"] == 2  # 8 s: a first chunk of 2 s, then 5 s with 1 s overlap
    markdown = (out / "report.md").read_text()
    assert "| measure | value |" in markdown and markdown.count("![p0") == PIECES
    for piece in report["pieces"]:
        assert f"]({piece['picture']})" in markdown
    # The report counts the prompts that ask for a tempo, a mode, no drums.
    asked = report["summary"]["prompt_adherence"]
    assert asked["tempo"]["asked"] == 3 and asked["mode"]["asked"] == 2 and asked["no_drums_when_asked"]["asked"] == 2
    assert report["summary"]["structure"]["reference_repeat_gap_mean"] is not None
    # The tempo measure's own accuracy on the reference songs rides along.
    assert asked["tempo"]["reference_songs"] >= 1 and 0.0 <= asked["tempo"]["reference_within"] <= 1.0
    assert "held-out corpus songs at their labelled tempo" in markdown
    assert report["fidelity"]["frechet_distance"] > 0
    assert report["fidelity"]["codec"]["codebooks_8"]["si_snr_db"] is not None
    assert {"codebooks_8", "codebooks_2"} <= set(report["fidelity"]["codec"])


def test_speed_comes_from_the_services_prometheus(six):
    """The levels' endpoints count every song the mesh made; the report, this run's."""
    _, report = six
    calls = {(s["level"], s["method"]): s["calls"] for s in report["speed"]["levels"]}
    chunks = sum(p["timings"]["levels"]["acoustic"]["calls"] for p in report["pieces"])
    assert calls[("semantic", "PlanStream")] == PIECES
    assert calls[("acoustic", "GenerateCoarse")] == chunks == 3 * PIECES  # three chunks per 8 s piece
    assert calls[("temporal", "Render")] == chunks
    songs = report["speed"]["songs"]
    assert songs["songs"] == PIECES and 0 < songs["first_audio_s_mean"] <= songs["real_time_factor_max"] * 8


def test_a_rerun_keeps_the_pieces_it_has_and_starts_no_mesh(six):
    out, report = six
    kept = 2  # of the six: each piece is measured again, seconds each
    result = run_cli(["eval", "--out", out, "--limit", kept, "--duration", 8, "--reference-songs", REFERENCE_SONGS,
                      "--device", "cpu"], timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.count("kept from an earlier run") == kept
    assert "no mesh needed" in result.stderr and "starting the semantic" not in result.stderr
    again = json.loads((out / "report.json").read_text())
    assert again["speed"]["generated_here"] == 0
    assert [p["measures"] for p in again["pieces"]] == [p["measures"] for p in report["pieces"][:kept]]


def test_compare_shows_a_swapped_level(six, tmp_path):
    out_a, _ = six
    space = bundled_token_space("acoustic")  # a swap must speak the token space of the levels it joins
    config = CoarseConfig(token_space=space, transformer=TransformerConfig(dim=128, layers=2, heads=4, max_len=512))
    torch.manual_seed(11)
    checkpoint = tmp_path / "acoustic-b.safetensors"
    save_checkpoint(CoarseTransformer(config), card_for("coarse_transformer", "acoustic", config, space,
                                                        "coarse-eval-swap-v2"), checkpoint)
    out_b = tmp_path / "swapped"
    report_b = _eval(out_b, "--limit", 1, "--duration", 8, "--acoustic-checkpoint", checkpoint)
    assert report_b["models"]["acoustic"] == ["coarse-eval-swap-v2"]

    result = run_cli(["eval", "compare", out_a, out_b, "--out", tmp_path / "cmp"], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert compared["changed_levels"] == ["acoustic"]
    assert compared["shared_pieces"] == 1
    page = (tmp_path / "cmp" / "compare.md").read_text()
    assert "Levels whose model changed: acoustic." in page and "coarse-eval-swap-v2" in page
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == PNG


def test_compare_refuses_a_directory_without_a_report(tmp_path):
    result = run_cli(["eval", "compare", tmp_path / "nothing", tmp_path], timeout=60)
    assert result.returncode == 2 and "no report.json" in result.stderr


def test_a_broken_prompt_file_fails_before_any_mesh_starts(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "a", "prompt": "calm piano", "duration_s": 10}\n{"id": "b", "prompt": ""}\n')
    result = run_cli(["eval", "--prompts", prompts, "--out", tmp_path / "out"], timeout=60)
    assert result.returncode == 2 and "prompts.jsonl:2" in result.stderr
    assert "starting the semantic" not in result.stderr
