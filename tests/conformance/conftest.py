"""Fixtures for the conformance suite: one cleartext (h2c) and one TLS greenh2 server for the
whole package, plus a check after every test that the server is alive and printed no traceback."""
from __future__ import annotations

import pytest
from support.server import ServerProcess

from conformance.rawh2 import RawH2

APP = "apps:app"


@pytest.fixture(scope="package")
def h2c_server():
    with ServerProcess(["--log-level", "info", "--keepalive", "10", APP]) as srv:
        yield srv


@pytest.fixture(scope="package")
def tls_server(certs):
    with ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile,
                        "--log-level", "info", APP]) as srv:
        yield srv


@pytest.fixture
def server(h2c_server):
    start = len(h2c_server.stderr_lines())
    yield h2c_server
    assert h2c_server.alive(), "server died:\n" + h2c_server.stderr_text()[-4000:]
    new = "\n".join(h2c_server.stderr_lines()[start:])
    assert "Traceback" not in new, "server logged a traceback:\n" + new[-4000:]


@pytest.fixture
def conn(server):
    """A raw HTTP/2 connection to the h2c server, past the preface exchange."""
    c = RawH2(server.port)
    yield c
    c.close()


@pytest.fixture
def connect(server):
    """Factory for more raw connections (closed at teardown)."""
    made: list[RawH2] = []

    def factory(**kw) -> RawH2:
        c = RawH2(server.port, **kw)
        made.append(c)
        return c
    yield factory
    for c in made:
        c.close()
