"""--io-backend: both gevent loops serve h2 (TLS and h2c), and the demo app says which runs;
the gunicorn worker takes the same choice from GREENH2_IO_BACKEND."""
import json

import pytest
from support.tools import curl

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("backend", ["libev", "libuv"])
def test_backend_serves_h2(start_server, backend):
    srv = start_server(["--io-backend", backend, "--self-signed", "--no-control-socket"], app=None)
    res = curl(["-k", "--http2", srv.url_for("/")])
    assert res.status == 200 and res.http_version == "2"
    assert json.loads(res.body)["io_backend"] == backend
    plain = start_server(["--io-backend", backend, "--no-control-socket"], app=None)
    res = curl(["--http2-prior-knowledge", plain.url_for("/")])
    assert res.http_version == "2" and json.loads(res.body)["io_backend"] == backend


def test_backend_from_environment_with_workers(start_server):
    srv = start_server(["-w", "2", "--no-control-socket"], app=None,
                       env={"GREENH2_IO_BACKEND": "libuv"})
    for _ in range(4):  # whichever worker answers
        res = curl(["--http2-prior-knowledge", srv.url_for("/")])
        assert json.loads(res.body)["io_backend"] == "libuv"


@pytest.mark.parametrize("backend", ["libev", "libuv"])
def test_gunicorn_worker_backend(tmp_path, backend):
    from e2e.gunicorn_proc import Gunicorn
    g = Gunicorn(str(tmp_path), app="greenh2.server.demo:demo_app", workers=1, hooks=False,
                 ready_path="/", env={"GREENH2_IO_BACKEND": backend})
    g.start()
    try:
        res = curl(["--http2-prior-knowledge", g.url("/")])
        assert res.http_version == "2" and json.loads(res.body)["io_backend"] == backend
    finally:
        g.kill()
