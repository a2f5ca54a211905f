"""--health-path on the serving port: answered by the server itself on h1 and h2 (the app is not
called), 200 while serving, 503 from the moment a graceful stop starts while --drain-delay keeps
the listeners open and normal requests served."""
import signal
import time

from support.tools import curl

from .conftest import APP

HP = "/lb-health"


def _get(server, path, proto):
    flag = "--http1.1" if proto == "h1" else "--http2-prior-knowledge"
    return curl([flag, server.url_for(path)], timeout=5)


def test_health_path_ok_then_503_while_draining_on_h1_and_h2(start_server):
    srv = start_server(["--health-path", HP, "--drain-delay", "3", "--graceful-timeout", "5"],
                       app=APP)
    for proto in ("h1", "h2"):
        r = _get(srv, HP, proto)
        assert (r.status, r.body) == (200, "ok\n"), (proto, r.status, r.body)
        assert r.http_version == ("1.1" if proto == "h1" else "2")
        r = _get(srv, HP + "?from=haproxy", proto)
        assert r.status == 200
    assert _get(srv, "/calls", "h1").body == "0", "the health path reached the app"
    assert _get(srv, HP + "x", "h1").status == 404  # only the exact path is intercepted
    assert _get(srv, "/calls", "h1").body == "1"

    srv.send_signal(signal.SIGTERM)
    assert srv.wait_for_stderr(r"draining: health checks answer 503", timeout=5), srv.stderr_text()
    for proto in ("h1", "h2"):
        r = _get(srv, HP, proto)
        assert (r.status, r.body) == (503, "draining\n"), (proto, r.status, r.body)
        r = _get(srv, "/hello", proto)  # ordinary requests are still served during the delay
        assert (r.status, r.body) == (200, "Hello, world!\n")
    assert _get(srv, "/calls", "h2").body == "3"  # x, and the two /hello
    t0 = time.monotonic()
    assert srv.wait(10) == 0
    assert time.monotonic() - t0 < 8


def test_health_path_off_by_default_and_must_be_absolute(start_server):
    srv = start_server([], app=APP)
    assert _get(srv, "/healthz", "h1").status == 404
    from support.server import run_cli
    res = run_cli(["--health-path", "healthz", APP])
    assert res.returncode == 2 and "must start with /" in res.stderr, res.stderr


def test_second_sigterm_cuts_drain_delay_short(start_server):
    srv = start_server(["--health-path", HP, "--drain-delay", "30"], app=APP)
    srv.send_signal(signal.SIGTERM)
    assert srv.wait_for_stderr(r"draining: health checks answer 503", timeout=5)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    assert srv.wait(10) == 0
    assert time.monotonic() - t0 < 5
