"""A closed mesh, started once: `hiermusic up` with mutual TLS and a token
listens on loopback only, Ray included; a client with the certificate and
the token makes a song; one without the token is refused UNAUTHENTICATED
(and counted), one without a client certificate cannot connect."""
from __future__ import annotations

import json

import grpc
import psutil
import pytest
import soundfile as sf

from hiermusic.services.common.security import ClientSecurity
from hiermusic.v1 import composer_pb2, composer_pb2_grpc, contract_pb2, levels_pb2_grpc
from tests.integration.mesh_helpers import Composer, run_cli, scrape
from tests.services.common.tls_files import TlsFiles, make_tls_files

DURATION_S = 4
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def composer(tmp_path_factory, files):
    flags = ("--device", "cpu", "--tls-cert", files.cert, "--tls-key", files.key, "--tls-ca", files.ca,
             "--token-file", files.token)
    composer = Composer(tmp_path_factory.mktemp("closed"), {}, flags)
    try:
        yield composer
    finally:
        composer.stop()


def _cli_flags(files: TlsFiles, token: bool = True) -> list:
    return ["--tls-ca", files.ca, "--tls-cert", files.cert, "--tls-key", files.key,
            *(["--token-file", files.token] if token else [])]


def _listening(pid: int) -> list[tuple[str, int, str]]:
    """(address, port, process name) of every socket the process tree of
    `pid` listens on: TCP listeners and bound UDP sockets."""
    root = psutil.Process(pid)
    tree = {p.pid: p for p in [root, *root.children(recursive=True)]}
    found = []
    for conn in psutil.net_connections("inet"):
        if conn.pid in tree and conn.laddr and (conn.status == psutil.CONN_LISTEN or conn.type == 2):  # 2: UDP
            try:
                found.append((conn.laddr.ip, conn.laddr.port, tree[conn.pid].name()))
            except psutil.NoSuchProcess:
                continue
    return found


def test_a_local_mesh_listens_on_loopback_only_ray_included(composer):
    listening = _listening(composer.process.pid)
    assert [s for s in listening if s[0] not in LOOPBACK] == []
    ports = {port for _, port, _ in listening}
    levels = json.loads((composer.run_dir / "mesh.json").read_text())
    assert {composer.ready["port"], composer.ready["metrics_port"]} <= ports
    assert {info["port"] for info in levels.values()} <= ports
    names = {name for _, _, name in listening}
    assert {"gcs_server", "raylet"} <= names, names  # Ray's own ports were seen, and are loopback


def test_a_client_with_the_certificate_and_token_makes_a_song(composer, files, tmp_path):
    out = tmp_path / "song.wav"
    done = run_cli(["generate", "a calm piano piece", "--duration", DURATION_S, "--out", out, "--seed", 3,
                    "--mesh", composer.address, *_cli_flags(files)], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    audio, sr = sf.read(out)
    assert abs(len(audio) / sr - DURATION_S) < 0.1


def test_a_client_without_the_token_or_the_certificate_is_refused(composer, files):
    request = composer_pb2.ComposeRequest(prompt="a calm piano piece", duration_s=DURATION_S)
    without_token = ClientSecurity.from_files(ca=files.ca, cert=files.cert, key=files.key)
    without_cert = ClientSecurity.from_files(ca=files.ca, token_file=files.token)
    for security, code in ((without_token, grpc.StatusCode.UNAUTHENTICATED),
                           (without_cert, grpc.StatusCode.UNAVAILABLE),
                           (ClientSecurity(), grpc.StatusCode.UNAVAILABLE)):
        with security.channel(composer.address) as channel:
            with pytest.raises(grpc.RpcError) as err:
                list(composer_pb2_grpc.ComposerStub(channel).Compose(request, timeout=TIMEOUT_S))
            assert err.value.code() == code, err.value.details()
    refused = [s for s in scrape(composer.ready["metrics_port"])["hiermusic_level_requests"]
               if s.name.endswith("_total") and s.labels.get("code") == "UNAUTHENTICATED"]
    assert sum(s.value for s in refused) >= 1, refused

    # The levels behind it are as closed: no token, no Describe; the command line's describe with it.
    semantic = json.loads((composer.run_dir / "mesh.json").read_text())["semantic"]
    address = f"127.0.0.1:{semantic['port']}"
    with without_token.channel(address) as channel:
        with pytest.raises(grpc.RpcError) as err:
            levels_pb2_grpc.SemanticLevelStub(channel).Describe(contract_pb2.DescribeRequest(), timeout=TIMEOUT_S)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    described = run_cli(["describe", address, *_cli_flags(files)], timeout=120)
    assert described.returncode == 0, described.stderr[-2000:]
    assert json.loads(described.stdout)["level"] == "semantic"
    refused = run_cli(["describe", address, *_cli_flags(files, token=False)], timeout=120)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr, refused.stderr[-2000:]
