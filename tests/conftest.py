"""Shared fixtures for the greenh2 test-suite.

* ``certs``          -- session-scoped self-signed cert/key for localhost
* ``server``         -- module-scoped pair of servers running ``apps:app``:
                        ``server.tls`` (https, ALPN h2/http1.1) and
                        ``server.plain`` (cleartext h1 + h2c)
* ``start_server``   -- function-scoped factory ``start_server(args, env=None)``
                        returning a started ServerProcess, killed at teardown
* ``runtime_dir``    -- autouse: every test runs with its own empty ``$XDG_RUNTIME_DIR``
                        (a short path: unix socket paths are limited to 108 bytes), so
                        whatever it starts (greenh2, gunicorn, greenh2ctl) never uses
                        ``~/.greenh2`` or another test's control socket; ServerProcess gives
                        each server a directory of its own below it. Session- and
                        module-scoped fixtures see a session-wide one.

Readiness waits (instead of fixed sleeps) are in ``support.wait``.
"""
import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from support.certs import make_self_signed  # noqa: E402
from support.server import ServerProcess  # noqa: E402

APP = "apps:app"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slower integration test (large bodies, many requests)")


@pytest.fixture(scope="session", autouse=True)
def _session_runtime_dir(tmp_path_factory):
    old = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("run-session"))
    yield
    if old is None:
        os.environ.pop("XDG_RUNTIME_DIR", None)
    else:
        os.environ["XDG_RUNTIME_DIR"] = old


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path_factory, monkeypatch):
    """This test's own ``$XDG_RUNTIME_DIR`` (mode 0700, empty at start)."""
    path = tmp_path_factory.mktemp("run")
    path.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_self_signed(str(tmp_path_factory.mktemp("certs")))


class ServerPair:
    def __init__(self, tls, plain, certs):
        self.tls = tls
        self.plain = plain
        self.certs = certs

    @property
    def tls_port(self):
        return self.tls.port

    @property
    def plain_port(self):
        return self.plain.port

    def https(self, path="/"):
        return "https://127.0.0.1:%d%s" % (self.tls.port, path)

    def http(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.plain.port, path)

    def check_alive(self):
        for s in (self.tls, self.plain):
            assert s.alive(), "server died:\n" + s.stderr_text()[-4000:]


def _dump_on_failure(request, servers):
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for s in servers:
            sys.stderr.write("\n--- greenh2 stderr (%s) ---\n%s\n" % (" ".join(s.args), s.stderr_text()[-6000:]))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


@pytest.fixture(scope="module")
def server(certs):
    """TLS and cleartext greenh2 servers (separate processes) serving apps:app."""
    tls = ServerProcess(["-b", "127.0.0.1:0", "--certfile", certs.certfile,
                         "--keyfile", certs.keyfile, APP])
    plain = ServerProcess(["-b", "127.0.0.1:0", APP])
    tls.start()
    try:
        plain.start()
    except Exception:
        tls.close()
        raise
    pair = ServerPair(tls, plain, certs)
    try:
        yield pair
    finally:
        plain.close()
        tls.close()


@pytest.fixture
def server_alive(request, server):
    """Use in tests that must leave the shared server running; dumps its stderr on failure."""
    yield server
    _dump_on_failure(request, [server.tls, server.plain])
    server.check_alive()


@pytest.fixture
def start_server(request):
    """Factory: ``start_server(args, env=None, app=APP)`` -> started ServerProcess.

    ``app=None`` starts without an app argument (built-in demo app).
    """
    started = []

    def factory(args=(), env=None, app=APP, **kw):
        args = list(args)
        if app:
            args.append(app)
        s = ServerProcess(args, env=env, **kw)
        started.append(s)
        return s.start()

    yield factory
    _dump_on_failure(request, started)
    for s in started:
        s.close()
