from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from prometheus_client import REGISTRY

from hiermusic.services.common.admission import Admission, AdmissionLimits
from hiermusic.services.common.metrics import ObservabilityInterceptor, chunk_index_header, request_id_header
from hiermusic.v1 import contract_pb2


def test_a_chunk_index_header_is_read_when_it_is_one():
    assert chunk_index_header(None) == (None, "")
    assert chunk_index_header("0") == (0, "")
    assert chunk_index_header("17") == (17, "")


@pytest.mark.parametrize("value", ["1.5", "-1", "abc", "", "١٢", "9" * 30])
def test_anything_else_is_named_as_the_caller_s_mistake(value):
    index, problem = chunk_index_header(value)
    assert index is None and "x-chunk-index" in problem


def test_a_request_id_is_kept_when_it_is_one_and_refused_when_it_is_not():
    assert request_id_header("3f2a-b7_c.9") == ("3f2a-b7_c.9", "")
    made, problem = request_id_header(None)
    assert len(made) == 12 and problem == ""
    for bad in ("x" * 4000, "two words", "caf\u00e9", "\x00"):
        _, problem = request_id_header(bad)
        assert "x-request-id" in problem and len(problem) < 200


# The interceptor on a real in-process gRPC server, in front of a probe
# method that waits until the test lets it go: every refusal is counted.

PROBE = "/hiermusic.v1.Probe/"


class _Probe:
    def __init__(self, level: str, limits: AdmissionLimits) -> None:
        self.level, self.release, self.entered = level, threading.Event(), threading.Event()
        self.done = threading.Semaphore(0)
        handlers = {name: grpc.unary_unary_rpc_method_handler(
            behaviour, request_deserializer=contract_pb2.DescribeRequest.FromString,
            response_serializer=contract_pb2.ModelInfo.SerializeToString)
            for name, behaviour in (("Wait", self._wait), ("Describe", lambda request, context: contract_pb2.ModelInfo()))}
        self.server = grpc.server(ThreadPoolExecutor(8), interceptors=[
            ObservabilityInterceptor(level, contract_pb2.ModelInfo(plugin="probe"), Admission(limits))])
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("hiermusic.v1.Probe", handlers)])
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def _wait(self, request, context):
        self.entered.set()
        self.release.wait(10)
        self.done.release()
        return contract_pb2.ModelInfo(plugin="probe")

    def call(self, method: str, payload: bytes, timeout: float = 10) -> bytes:
        return self.channel.unary_unary(PROBE + method)(payload, timeout=timeout)

    def count(self, method: str, code: str) -> float:
        return REGISTRY.get_sample_value(
            "hiermusic_level_requests_total", {"level": self.level, "method": method, "code": code}) or 0.0

    def close(self) -> None:
        self.release.set()
        self.channel.close()
        self.server.stop(0)


def test_an_undecodable_request_is_the_caller_s_mistake_and_counted():
    probe = _Probe("probe-undecodable", AdmissionLimits())
    probe.release.set()
    try:
        with pytest.raises(grpc.RpcError) as refused:
            probe.call("Wait", b"\xff\xff\xff")  # not a protobuf message
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "undecodable request" in refused.value.details()
        assert probe.count("Wait", "INVALID_ARGUMENT") == 1
        probe.call("Wait", b"")  # an empty message is a DescribeRequest
        assert probe.count("Wait", "OK") == 1
    finally:
        probe.close()


def test_a_full_service_refuses_at_once_and_counts_it_but_describe_still_answers():
    probe = _Probe("probe-full", AdmissionLimits(running=1, queued=0))
    try:
        waiting = threading.Thread(target=probe.call, args=("Wait", b""))
        waiting.start()
        assert probe.entered.wait(10)
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            probe.call("Wait", b"")
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - start < 2  # refused, not queued behind the first
        assert probe.count("Wait", "RESOURCE_EXHAUSTED") == 1
        probe.call("Describe", b"", timeout=5)  # never queued: answered while the service is full
        probe.release.set()
        waiting.join(10)
        assert probe.count("Wait", "OK") == 1
    finally:
        probe.close()


def test_work_its_caller_abandoned_is_not_counted_ok():
    probe = _Probe("probe-abandoned", AdmissionLimits())
    try:
        with pytest.raises(grpc.RpcError) as late:
            probe.call("Wait", b"", timeout=0.3)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        time.sleep(0.5)  # the server's deadline, counted from the call's arrival, has passed too
        probe.release.set()
        assert probe.done.acquire(timeout=10)
        deadline = time.monotonic() + 5
        while probe.count("Wait", "DEADLINE_EXCEEDED") < 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # the interceptor counts after the handler returns
        assert probe.count("Wait", "DEADLINE_EXCEEDED") == 1
        assert probe.count("Wait", "OK") == 0
    finally:
        probe.close()
