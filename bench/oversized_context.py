"""What one oversized request costs the acoustic level (issue 29): starts an
acoustic service, sends a chunk of 100 frames whose context carries the
semantic tokens such a chunk needs, then the same chunk carrying `--tokens`
of them, and prints each call's status, wall time and the service's RSS
after it and at its peak so far (psutil, /proc's VmHWM). With the caps on a context's size the oversized one is
refused before the model runs.

    .venv/bin/python bench/oversized_context.py --tokens 100000
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import psutil

from hiermusic.orchestrator.mesh import LevelLaunch, LocalMesh
from hiermusic.orchestrator.song import space_of
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.tensors import encode
from hiermusic.v1 import contract_pb2, levels_pb2, levels_pb2_grpc

FRAMES = 100


def request(space: TokenSpaceConfig, tokens: int) -> levels_pb2.CoarseRequest:
    rng = np.random.default_rng(0)
    context = levels_pb2.ChunkContext(
        num_frames=FRAMES,
        semantic_tokens=encode(rng.integers(0, space.semantic_vocab_size, tokens)),
        frame_sections=encode(np.zeros(tokens, np.int64)),
        section_embeddings=encode(rng.normal(0, 0.1, (1, space.embedding_dim)).astype(np.float32)),
        text_embedding=encode(rng.normal(0, 0.1, space.embedding_dim).astype(np.float32)),
        section_energy=[0.5],
    )
    return levels_pb2.CoarseRequest(context=context, sampling=levels_pb2.Sampling(seed=1))


def peak_rss(process: psutil.Process) -> int:
    """The process's highest RSS so far, in bytes (Linux)."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc: peak RSS is read on Linux only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    mesh = LocalMesh(Path(tempfile.mkdtemp(prefix="hm-bench-")), [LevelLaunch("acoustic", device=args.device)])
    mesh.start()
    try:
        address = mesh.wait_ready()["acoustic"]
        process = psutil.Process(mesh.processes["acoustic"].ready["pid"])
        with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 1 << 30)]) as channel:
            stub = levels_pb2_grpc.AcousticLevelStub(channel)
            space = space_of(stub.Describe(contract_pb2.DescribeRequest(), timeout=30))
            needed = FRAMES // space.frames_per_semantic + 2 * int(round(space.semantic_rate)) + 1
            print(f"acoustic service up, RSS {process.memory_info().rss / 1e9:.2f} GB, "
                  f"peak {peak_rss(process) / 1e9:.2f} GB")
            for tokens in (needed, args.tokens):
                start = time.perf_counter()
                try:
                    stub.GenerateCoarse(request(space, tokens), timeout=600)
                    status = "OK"
                except grpc.RpcError as err:
                    status = f"{err.code().name}: {err.details()[:120]}"
                print(f"{tokens:7d} semantic tokens: {time.perf_counter() - start:6.2f} s, "
                      f"RSS after {process.memory_info().rss / 1e9:.2f} GB, peak {peak_rss(process) / 1e9:.2f} GB, "
                      f"{status}")
    finally:
        mesh.stop()


if __name__ == "__main__":
    main()
