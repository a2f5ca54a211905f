"""Fixtures for the gunicorn end-to-end tests (real arbiters, loopback only).

* ``gunicorn``     -- function-scoped factory ``gunicorn(args=(), **kw)`` -> started Gunicorn;
                      every arbiter's process group is SIGKILLed at teardown, and its log is
                      printed when the test failed
* ``tls_server``   -- module-scoped arbiter (2 workers) on TLS with an access log file
* ``plain_server`` -- module-scoped arbiter (2 workers) on a cleartext bind
"""
import sys

import pytest

from .gunicorn_proc import Gunicorn

ACCESS_FORMAT = '%(h)s "%(r)s" %(s)s %(H)s'


def _dump(request, servers):
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for s in servers:
            sys.stderr.write("\n--- gunicorn log (%s) ---\n%s\n" % (" ".join(s.cmd), s.log_text()[-6000:]))


@pytest.fixture
def gunicorn(request, tmp_path):
    started = []

    def factory(args=(), **kw):
        g = Gunicorn(str(tmp_path / "logs"), args, **kw)
        started.append(g)
        return g.start()

    yield factory
    _dump(request, started)
    for g in started:
        g.kill()


@pytest.fixture(scope="module")
def tls_server(certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("tls_server")
    g = Gunicorn(str(d), ["--access-logfile", str(d / "access.log"),
                          "--access-logformat", ACCESS_FORMAT], tls=certs)
    g.access_log = str(d / "access.log")
    g.start()
    try:
        yield g
    finally:
        g.kill()


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    g = Gunicorn(str(tmp_path_factory.mktemp("plain_server")))
    g.start()
    try:
        yield g
    finally:
        g.kill()
