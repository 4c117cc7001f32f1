"""Bounded work at the Composer: songs past its in-flight and queue limits
are refused at once, and a song its caller abandons (cancelled, or past its
deadline) stops its work in the levels. A Composer of its own, with small
limits, over the session's level services."""
from __future__ import annotations

import threading
import time
from datetime import datetime

import grpc
import pytest

from hiermusic.v1 import composer_pb2, composer_pb2_grpc
from tests.integration.mesh_helpers import Composer, log_lines, scrape, wait_for

MAX_SONGS, MAX_QUEUED = 2, 1
CHUNKS_30S = 7  # a 2 s first chunk, then 5 s chunks with 1 s overlaps


@pytest.fixture(scope="module")
def small_composer(mesh, tmp_path_factory):
    levels, _ = mesh
    composer = Composer(tmp_path_factory.mktemp("bounded"), levels.addresses(),
                        ("--max-songs", str(MAX_SONGS), "--max-queued-songs", str(MAX_QUEUED)))
    try:
        yield levels, composer
    finally:
        composer.stop()


def _compose(address: str, duration_s: float, seed: int, outcome: dict, timeout: float = 300) -> None:
    """One song through the Composer; `outcome` gets the code, the seconds to
    the first event or the refusal, and whether the summary came."""
    channel = grpc.insecure_channel(address)
    start = time.monotonic()
    try:
        events = composer_pb2_grpc.ComposerStub(channel).Compose(
            composer_pb2.ComposeRequest(prompt="a calm folk song", duration_s=duration_s, seed=seed), timeout=timeout)
        for event in events:
            outcome.setdefault("first_s", time.monotonic() - start)
            if event.HasField("summary"):
                outcome["summary"] = True
        outcome["code"] = grpc.StatusCode.OK
    except grpc.RpcError as err:
        outcome.setdefault("first_s", time.monotonic() - start)
        outcome["code"], outcome["details"] = err.code(), err.details()
    finally:
        channel.close()


def test_songs_past_the_limits_are_refused_at_once_and_the_admitted_complete(small_composer):
    _, composer = small_composer
    outcomes = [{} for _ in range(3 * MAX_SONGS)]
    threads = [threading.Thread(target=_compose, args=(composer.address, 4.0, seed, outcome))
               for seed, outcome in enumerate(outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(400)

    refused = [o for o in outcomes if o.get("code") == grpc.StatusCode.RESOURCE_EXHAUSTED]
    made = [o for o in outcomes if o.get("code") == grpc.StatusCode.OK and o.get("summary")]
    assert len(refused) == len(outcomes) - MAX_SONGS - MAX_QUEUED, outcomes
    assert len(made) == MAX_SONGS + MAX_QUEUED, outcomes
    assert max(o["first_s"] for o in refused) < 0.1, [o["first_s"] for o in refused]
    assert all("2 call(s) running and 1 waiting" in o["details"] for o in refused), refused[0]

    counted = {s.labels["code"]: s.value for s in scrape(composer.ready["metrics_port"])["hiermusic_level_requests"]
               if s.name.endswith("_total") and s.labels["level"] == "composer" and s.labels["method"] == "Compose"}
    assert counted.get("RESOURCE_EXHAUSTED") == len(refused) and counted.get("OK") == len(made), counted


def _song_calls(levels, seen: dict[str, int]) -> list[dict]:
    """The level calls the mesh's services logged after the first `seen[name]` lines of each log."""
    calls = []
    for name, process in levels.processes.items():
        lines = log_lines(process.log_path)[seen[name]:]
        calls += [dict(line, level=name) for line in lines if line.get("event") == "rpc"
                  and line.get("method") in ("PlanStream", "GenerateCoarse", "Render")]
    return calls


def _log_sizes(levels) -> dict:
    return {name: len(log_lines(process.log_path)) for name, process in levels.processes.items()}


def _songs(composer: Composer, outcome: str) -> float:
    return sum(s.value for s in scrape(composer.scheduler_metrics_port).get("hiermusic_songs", [])
               if s.name.endswith("_total") and s.labels.get("outcome") == outcome)


@pytest.mark.parametrize("abandon", ["cancel", "deadline"])
def test_an_abandoned_song_stops_its_work_in_the_levels(small_composer, abandon):
    levels, composer = small_composer
    before = _log_sizes(levels)
    cancelled_before = _songs(composer, "cancelled")
    channel = grpc.insecure_channel(composer.address)
    call = composer_pb2_grpc.ComposerStub(channel).Compose(
        composer_pb2.ComposeRequest(prompt="a long slow ambient piece", duration_s=30, seed=7),
        timeout=None if abandon == "cancel" else 8.0)
    try:
        if abandon == "cancel":
            for event in call:
                if event.HasField("audio"):
                    call.cancel()  # the listener leaves after the first chunk
                    break
        else:
            with pytest.raises(grpc.RpcError) as late:
                list(call)
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        left = time.time()
    finally:
        channel.close()

    wait_for(lambda: _songs(composer, "cancelled") > cancelled_before, 30, "the scheduler to count the song cancelled")
    time.sleep(4)  # a model call cut at its level still ends its chunk, then logs
    calls = [(c["level"], c["method"], c.get("chunk_index"), c["code"], round(_ended(c) - left, 2), c["seconds"])
             for c in _song_calls(levels, before)]
    # No call starts once the song is gone; one in flight is cut at the level, not answered.
    assert all(ended - seconds < SLACK_S for *_, ended, seconds in calls), calls
    assert all(code != "OK" for *_, code, ended, _ in calls if ended > SLACK_S), calls
    coarse = [c for c in calls if c[1] == "GenerateCoarse"]
    assert 1 <= len(coarse) < CHUNKS_30S, f"{len(coarse)} acoustic calls for a song abandoned early: {calls}"


SLACK_S = 1.0  # for the Composer's cancel to reach the scheduler and its calls on a busy machine


def _ended(line: dict) -> float:
    return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
