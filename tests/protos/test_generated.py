"""The committed Python of protos/ is what grpcio-tools makes of the .proto
files today: a contract change without regenerating fails here."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "protos" / "hiermusic" / "v1"
GENERATE = "cd protos && python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. hiermusic/v1/*.proto"


def _normalise(text: str) -> str:
    # The generator stamps its own versions; a newer patch release is not staleness.
    text = re.sub(r"# Protobuf Python Version: .*", "", text)
    text = re.sub(r"GRPC_GENERATED_VERSION = '.*'", "", text)
    return re.sub(r"_runtime_version\.ValidateProtobufRuntimeVersion\([^)]*\)", "", text, flags=re.S)


def test_generated_code_is_fresh(tmp_path):
    protos = sorted(PROTO_DIR.glob("*.proto"))
    assert protos, "no .proto files"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(REPO / "protos"), f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", f"--pyi_out={tmp_path}", *map(str, protos)],
        check=True,
    )
    fresh = sorted((tmp_path / "hiermusic" / "v1").glob("*_pb2*.py*"))
    assert len(fresh) == 3 * len(protos)
    for path in fresh:
        committed = PROTO_DIR / path.name
        assert committed.exists(), f"{committed.name} missing; regenerate with: {GENERATE}"
        assert _normalise(committed.read_text()) == _normalise(path.read_text()), (
            f"{committed.name} is stale; regenerate with: {GENERATE}"
        )
