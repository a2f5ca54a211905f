"""slowhttptest, the standard slow-client DoS tool, against greenh2 at its defaults (issue 16,
part 2): slowloris (-H), slow body (-B) and slow read (-X) over HTTP/1.1 and TLS, each with a
canary curl every 0.5 s (3 s limit) that must get >= 95 % answered.

Bounded for the suite: 12 s per attack and a cap of 100 connections (worker_connections)
under 250 attacking ones, so the cap is hit within a second and the shedding is what keeps the
canary served. The full size (2000 connections, 40 s, the default cap of 1000) is
benchmarks/slow_clients.py, run by hand."""
from __future__ import annotations

import pytest
from support.server import ServerProcess
from support.slowhttp import MODES, have_slowhttptest, run_attack

LENGTH = 12
CAP = 100


@pytest.fixture(autouse=True)
def _slowhttptest_installed():
    # tests/run.sh installs both: a missing one is a broken install, not a reason to skip
    assert have_slowhttptest(), "slowhttptest or curl not on PATH (Debian slowhttptest, curl)"


@pytest.mark.parametrize("transport", ["http", "https"])
@pytest.mark.parametrize("mode", list(MODES))
def test_canary_survives(mode, transport, certs):
    extra = ["--certfile", certs.certfile, "--keyfile", certs.keyfile] if transport == "https" else []
    with ServerProcess(extra + ["--worker-connections", str(CAP), "apps:app"]) as srv:
        canary = run_attack(mode, f"{transport}://127.0.0.1:{srv.port}", 250, 100, LENGTH)
        text = srv.stderr_text()
        assert srv.alive(), text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "to admit a new one at worker_connections=100" in text  # the cap was reached
    assert canary.sent >= 2 * LENGTH - 2
    assert canary.ratio >= 0.95, (f"{mode} over {transport}: canary answered {canary.ok} of "
                                  f"{canary.sent}: {canary.failures}")
