"""The flags that shape a mesh, refused before anything starts: --replicas
and the addresses of running levels."""
from __future__ import annotations

import signal

import pytest

from hiermusic.cli.main import main


@pytest.fixture(autouse=True)
def _keep_sigterm():
    # main() makes SIGTERM unwind like Ctrl-C; this process keeps its own handler.
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


@pytest.mark.parametrize("flag", ["temporal=0", "temporal=99", "temporal", "bass=2", "temporal=two"])
def test_a_bad_replica_count_is_a_usage_error(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["up", "--replicas", flag])
    assert stop.value.code == 2
    assert "expected LEVEL=N" in capsys.readouterr().err


@pytest.mark.parametrize("address, words", [("127.0.0.1:5001,127.0.0.1", "is not HOST:PORT"),
                                            ("127.0.0.1:5001,127.0.0.1:5001", "names a replica twice")])
def test_a_bad_level_address_is_refused(address, words, capsys):
    assert main(["up", "--acoustic", address]) == 2
    assert words in capsys.readouterr().err


def test_replicas_of_a_level_that_runs_elsewhere_are_refused(capsys):
    assert main(["up", "--acoustic", "127.0.0.1:5001", "--replicas", "acoustic=2"]) == 2
    assert "--replicas acoustic: that level runs elsewhere" in capsys.readouterr().err
