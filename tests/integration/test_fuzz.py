"""A seeded fuzz of every RPC of the three level services and of the
Composer (issue 29): over a thousand malformed but decodable requests, each
a valid request with random mutations (fuzz_mutations.py), bad metadata
headers and sometimes a deadline too short to meet. A client's mistake is
never UNKNOWN or INTERNAL; afterwards every service still serves, its memory
has not grown past a bound, and its `/metrics` count the refusals the
client saw."""
from __future__ import annotations

import random
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import numpy as np
import psutil
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hiermusic.orchestrator.song import plan_arrays, space_of
from hiermusic.services.common.chunk_layout import Chunk, chunk_context
from hiermusic.services.common.limits import LEVELS
from hiermusic.services.common.log import CHUNK_INDEX_KEY, REQUEST_ID_KEY
from hiermusic.services.common.tensors import decode, encode
from hiermusic.v1 import composer_pb2, composer_pb2_grpc, contract_pb2, levels_pb2, levels_pb2_grpc, tensor_pb2
from tests.integration.fuzz_mutations import mutate
from tests.integration.mesh_helpers import scrape

SEED = 29
REQUESTS = 1000
# What a malformed request may be answered with: refused, out of time, or
# served where the mutations left it valid. UNKNOWN, INTERNAL or UNAVAILABLE
# (a crashed service) is a defect.
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED}
# Per service process, over the whole fuzz (after a warm-up: every model run
# once, the Composer's one-off import of the planner's code): before the caps
# one 100k-token context alone raised the acoustic level's peak by 0.70 GB.
RSS_GROWTH_BOUND = 300 * 1024 * 1024
SHORT_DEADLINES_S = (0.001, 0.01, 0.05)
# Mutations per request: two or three leave few requests valid (one
# mutation alone leaves about one in five), and a valid one runs a model.
MUTATIONS = (2, 3)
# Short chunks (0.5 s) and pieces: a request the mutations leave valid runs a model briefly.
CHUNKS = (Chunk(0, 0, 25, 0), Chunk(1, 20, 45, 5))


@dataclass
class Rpc:
    level: str  # the `level` label of its service's metrics ("composer" for the Composer)
    method: str
    call: Callable
    stream: bool
    valid: list[Message]  # requests the service serves, to mutate
    timeout_s: float


@dataclass
class Sent:
    rpc: Rpc
    what: list[str]  # the mutations, headers and deadline of the request
    code: grpc.StatusCode
    details: str

    def __str__(self) -> str:
        return f"{self.rpc.level}.{self.rpc.method} [{'; '.join(self.what)}] -> {self.code.name}: {self.details}"


@pytest.fixture(scope="module")
def channels(mesh):
    """The session's mesh (no other test runs on it meanwhile: its tests are
    one xdist unit): counts are compared before and after, memory too."""
    levels, composer = mesh
    addresses = {level: levels.processes[level].address for level in LEVELS} | {"composer": composer.address}
    opened = {name: grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
              for name, address in addresses.items()}
    yield opened
    for channel in opened.values():
        channel.close()


def valid_rpcs(channels: dict[str, grpc.Channel]) -> list[Rpc]:
    """Every RPC with valid requests built from the levels' real answers: a
    plan of 2 s, then chunks 0 and 1 of it through both chunk levels, chunk 1
    with the summaries, prefixes and a thematic memory a scheduler sends."""
    semantic = levels_pb2_grpc.SemanticLevelStub(channels["semantic"])
    acoustic = levels_pb2_grpc.AcousticLevelStub(channels["acoustic"])
    temporal = levels_pb2_grpc.TemporalLevelStub(channels["temporal"])
    compose = composer_pb2_grpc.ComposerStub(channels["composer"]).Compose
    sampling = levels_pb2.Sampling(seed=1)
    by_prompt = levels_pb2.PlanRequest(prompt="a calm piano piece", duration_s=2.0, sampling=sampling)
    stated = levels_pb2.PiecePlan(sections=[levels_pb2.Section(type="intro", bars=1, energy=0.3),
                                            levels_pb2.Section(type="verse", bars=1, description="soft drums")],
                                  tempo_bpm=240.0, key="D", mode="minor")
    by_plan = levels_pb2.PlanRequest(sampling=sampling, plan=stated)
    plan = semantic.Plan(by_prompt, timeout=120)
    space = space_of(acoustic.Describe(contract_pb2.DescribeRequest(), timeout=30))
    arrays = plan_arrays(plan, space, plan.frame_sections.shape[0])
    arrays.semantic_tokens = decode(plan.semantic_tokens, "semantic_tokens", tensor_pb2.DTYPE_INT64, [None])
    contexts = [chunk_context(arrays, chunk, space, 1.0) for chunk in CHUNKS]
    first_coarse = acoustic.GenerateCoarse(levels_pb2.CoarseRequest(context=contexts[0], sampling=sampling),
                                           timeout=120)
    first_codes = decode(first_coarse.coarse_tokens, "coarse", tensor_pb2.DTYPE_INT64, [None, None])
    overlap = slice(CHUNKS[1].start, CHUNKS[0].end)
    coarse = levels_pb2.CoarseRequest(
        context=contexts[1], summary=first_coarse.summary, prefix_tokens=encode(first_codes[:, overlap]),
        sampling=sampling, memory=levels_pb2.ThematicMemory(of_section=0, chunk_offset=5,
                                                            coarse_tokens=encode(first_codes[:, :10])))
    codes = acoustic.GenerateCoarse(coarse, timeout=120).coarse_tokens
    first_render = temporal.Render(levels_pb2.RenderRequest(context=contexts[0], coarse_tokens=first_coarse.coarse_tokens,
                                                            sampling=sampling), timeout=120)
    fine = decode(first_render.fine_tokens, "fine", tensor_pb2.DTYPE_INT64, [None, None])
    render = levels_pb2.RenderRequest(context=contexts[1], coarse_tokens=codes, summary=first_render.summary,
                                      prefix_tokens=encode(fine[:, overlap]), sampling=sampling)
    assert temporal.Render(render, timeout=120).audio.shape
    describe = contract_pb2.DescribeRequest()
    songs = [composer_pb2.ComposeRequest(prompt="a calm piano piece", duration_s=1.0, seed=3),
             composer_pb2.ComposeRequest(seed=3, chunk_s=1.0, overlap_s=0.2, plan=stated)]
    # Deadlines a refusal meets with ease; a request left valid may run past them.
    return [
        Rpc("semantic", "Describe", semantic.Describe, False, [describe], 2.0),
        Rpc("semantic", "Plan", semantic.Plan, False, [by_prompt, by_plan], 2.0),
        Rpc("semantic", "PlanStream", semantic.PlanStream, True, [by_prompt, by_plan], 2.0),
        Rpc("acoustic", "Describe", acoustic.Describe, False, [describe], 2.0),
        Rpc("acoustic", "GenerateCoarse", acoustic.GenerateCoarse, False, [coarse], 2.0),
        Rpc("temporal", "Describe", temporal.Describe, False, [describe], 2.0),
        Rpc("temporal", "Render", temporal.Render, False, [render], 2.0),
        # A song the mutations leave valid is abandoned at its deadline (the Composer cancels it).
        Rpc("composer", "Compose", compose, True, songs, 0.5),
    ]


def _metadata(rng: random.Random, n: int) -> tuple[list[tuple[str, str]], list[str]]:
    """Headers as a scheduler sends them, or bad ones (gRPC itself admits only printable ASCII values)."""
    meta = [(REQUEST_ID_KEY, f"fuzz-{n}"), (CHUNK_INDEX_KEY, "1")]
    if rng.random() < 0.7:
        return meta, []
    printable = string.printable.strip() + " "
    bad_index = rng.choice(("", "-1", "1.5", "9" * 30, "abc", " 3", "0x10", "+1", "1e3", "٣".encode().hex()))
    bad_id = rng.choice(("", " ", "".join(rng.choice(printable) for _ in range(rng.choice((1, 100, 4000))))))
    roll = rng.random()
    if roll < 0.4:
        return [(REQUEST_ID_KEY, f"fuzz-{n}"), (CHUNK_INDEX_KEY, bad_index)], [f"{CHUNK_INDEX_KEY}={bad_index!r}"]
    if roll < 0.7:
        return [(REQUEST_ID_KEY, bad_id)], [f"{REQUEST_ID_KEY} of {len(bad_id)} chars"]
    if roll < 0.85:  # the same header twice
        return meta + [(CHUNK_INDEX_KEY, bad_index)], [f"second {CHUNK_INDEX_KEY}={bad_index!r}"]
    return [], ["no headers"]


def _send(rpc: Rpc, request: Message, metadata: list, timeout_s: float) -> tuple[grpc.StatusCode, str]:
    try:
        reply = rpc.call(request, timeout=timeout_s, metadata=metadata)
        if rpc.stream:
            for _ in reply:
                pass
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as err:
        return err.code(), (err.details() or "")[:300]


def _fuzz(rpcs: list[Rpc], rng: random.Random) -> list[Sent]:
    sent = []
    for n in range(REQUESTS):
        rpc = rng.choice(rpcs)
        request = type(rpc.valid[0])()
        request.CopyFrom(rng.choice(rpc.valid))
        what = [mutate(request, rng) for _ in range(rng.choice(MUTATIONS))]
        metadata, headers = _metadata(rng, n)
        timeout_s = rpc.timeout_s
        if rng.random() < 0.1:
            timeout_s = rng.choice(SHORT_DEADLINES_S)
            headers.append(f"deadline {timeout_s} s")
        code, details = _send(rpc, request, metadata, timeout_s)
        sent.append(Sent(rpc, what + headers, code, details))
    return sent


def _warm_up_the_composer(compose: Rpc) -> None:
    """The Composer imports the planner's code (and torch) for its first
    request with a plan: a one-off that is no growth, done before memory is measured."""
    request = composer_pb2.ComposeRequest()
    request.CopyFrom(compose.valid[-1])
    request.duration_s = -1.0
    assert _send(compose, request, [], 60.0)[0] == grpc.StatusCode.INVALID_ARGUMENT


def _requests_by_code(port: int) -> Counter:
    """hiermusic_level_requests_total of one service: (level, method, code) -> count."""
    samples = scrape(port).get("hiermusic_level_requests", [])
    return Counter({(s.labels["level"], s.labels["method"], s.labels["code"]): s.value
                    for s in samples if s.name.endswith("_total")})


@dataclass
class Fuzzed:
    sent: list[Sent]
    seconds: float
    rss_before: dict[str, int]
    rss_after: dict[str, int]
    counts_before: dict[str, Counter]
    counts_after: dict[str, Counter]


@pytest.fixture(scope="module")
def fuzzed(mesh, channels) -> Fuzzed:
    levels, composer = mesh
    rpcs = valid_rpcs(channels)  # also the warm-up: every model has run once
    _warm_up_the_composer(rpcs[-1])
    pids = {level: levels.processes[level].ready["pid"] for level in LEVELS} | {"composer": composer.process.pid}
    ports = {level: levels.processes[level].ready["metrics_port"] for level in LEVELS} | {
        "composer": composer.ready["metrics_port"]}
    rss_before = {name: psutil.Process(pid).memory_info().rss for name, pid in pids.items()}
    counts_before = {name: _requests_by_code(port) for name, port in ports.items()}
    start = time.monotonic()
    sent = _fuzz(rpcs, random.Random(SEED))
    seconds = time.monotonic() - start
    rss_after = {name: psutil.Process(pid).memory_info().rss for name, pid in pids.items()}
    counts_after = {name: _requests_by_code(port) for name, port in ports.items()}
    by_code = Counter(f"{s.rpc.level}.{s.rpc.method} {s.code.name}" for s in sent)
    print(f"fuzz: {len(sent)} requests in {seconds:.1f} s (seed {SEED}): " +
          ", ".join(f"{k} {v}" for k, v in sorted(by_code.items())) + "; RSS growth " +
          ", ".join(f"{name} {(rss_after[name] - rss_before[name]) / 2**20:+.0f} MB" for name in pids))
    return Fuzzed(sent, seconds, rss_before, rss_after, counts_before, counts_after)


def test_no_client_mistake_is_unknown_or_internal(fuzzed):
    assert len(fuzzed.sent) >= 1000
    wrong = [s for s in fuzzed.sent if s.code not in ALLOWED]
    assert not wrong, f"{len(wrong)} of {len(fuzzed.sent)} requests answered with an unexpected code:\n" + \
        "\n".join(map(str, wrong[:40]))
    # The fuzz tests the services' validation: most requests must be refused there.
    refused = sum(s.code == grpc.StatusCode.INVALID_ARGUMENT for s in fuzzed.sent)
    assert refused > len(fuzzed.sent) / 2, Counter(s.code.name for s in fuzzed.sent)
    assert {(s.rpc.level, s.rpc.method) for s in fuzzed.sent if s.code == grpc.StatusCode.INVALID_ARGUMENT} == \
        {(rpc.level, rpc.method) for rpc in {id(s.rpc): s.rpc for s in fuzzed.sent}.values()}


def test_every_service_still_serves(fuzzed, channels):
    for name, channel in channels.items():
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
    rpcs = valid_rpcs(channels)  # a plan and two chunks through each chunk level, every reply checked
    events = list(rpcs[-1].call(rpcs[-1].valid[0], timeout=300))
    assert events[-1].HasField("summary") and any(e.HasField("audio") for e in events)


def test_memory_stays_bounded(fuzzed):
    grown = {name: fuzzed.rss_after[name] - fuzzed.rss_before[name] for name in fuzzed.rss_before}
    assert all(growth < RSS_GROWTH_BOUND for growth in grown.values()), \
        {name: f"{growth / 2**20:+.0f} MB" for name, growth in grown.items()}


def test_metrics_count_the_refusals_by_code(fuzzed):
    """Each service counts at least the refusals (and successes) its client
    saw, by method and code; a deadline the client saw pass may have been
    served or refused on the other side, so it is not compared."""
    seen = Counter((s.rpc.level, s.rpc.method, s.code.name) for s in fuzzed.sent
                   if s.code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT))
    for (level, method, code), count in seen.items():
        counted = fuzzed.counts_after[level][level, method, code] - fuzzed.counts_before[level][level, method, code]
        assert counted >= count, f"{level}.{method} {code}: the client saw {count}, /metrics counts {counted}"
    assert any(code == "INVALID_ARGUMENT" for (_, _, code) in seen)
