"""TLS and token flags that cannot work together, or files that cannot be
used, are a usage error (exit 2) naming the flag, before anything starts."""
from __future__ import annotations

import signal

import pytest

from hiermusic.cli.main import main
from tests.services.common.tls_files import make_tls_files


@pytest.fixture(autouse=True)
def _keep_sigterm():
    # main() makes SIGTERM unwind like Ctrl-C; this process keeps its own handler.
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def test_flags_that_cannot_work_together_are_refused(files, tmp_path, capsys):
    cases = [
        (["serve", "semantic", "--tls-cert", files.cert], "--tls-cert and --tls-key go together"),
        (["up", "--tls-ca", files.ca], "--tls-ca asks clients for certificates"),
        # Starting its own mesh, generate serves too: a CA alone cannot be served.
        (["generate", "a song", "--duration", "4", "--out", tmp_path / "a.wav", "--tls-ca", files.ca],
         "--tls-ca asks clients for certificates"),
        (["describe", "127.0.0.1:1", "--token-file", tmp_path / "missing"], f"--token-file {tmp_path / 'missing'}"),
        (["describe", "127.0.0.1:1", "--tls-ca", files.key], "not a PEM file with a CERTIFICATE"),
        (["plan", "a song", "--semantic", "127.0.0.1:1", "--tls-key", files.key], "--tls-cert and --tls-key go together"),
    ]
    for argv, words in cases:
        assert main([str(arg) for arg in argv]) == 2, argv
        assert words in capsys.readouterr().err, argv


def test_a_client_may_check_the_server_with_a_ca_alone(files, capsys):
    """A client's CA needs no certificate of its own: the call is made, and
    fails only because nothing listens there."""
    assert main(["describe", "127.0.0.1:1", "--tls-ca", str(files.ca), "--timeout", "2"]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().err
