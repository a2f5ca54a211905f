"""/healthz and /readyz on the --metrics-bind listener: ready while accepting, 503 from the
moment a graceful stop (or, with --workers, a reload) starts, while in-flight requests finish."""
import signal
import threading
import time

import pytest
from support.h2raw import H2Client
from support.scrape import get, metrics_url
from support.wait import wait_stderr

pytestmark = pytest.mark.timeout(60)


def _ops(srv):
    base = metrics_url(srv).rsplit("/", 1)[0]
    return base + "/healthz", base + "/readyz"


def _poll(url, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = get(url, timeout=2)
        if status == want:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("workers", [1, 2])
def test_readyz_turns_503_on_sigterm_while_inflight_finishes(start_server, workers):
    srv = start_server(["--metrics-bind", "127.0.0.1:0", "--graceful-timeout", "10",
                        "-w", str(workers)])
    healthz, readyz = _ops(srv)
    assert _poll(readyz, 200), "never ready"
    assert get(healthz) == (200, "ok\n")
    c = H2Client("127.0.0.1", srv.port)
    sid = c.get("/sleep?s=2&note=inflight")
    wait_stderr(srv, "apps: in /sleep inflight")  # the request is inside the app
    srv.send_signal(signal.SIGTERM)
    assert _poll(readyz, 503, timeout=1.5), "readyz still 200 after SIGTERM"
    assert get(readyz) == (503, "draining\n")
    assert get(healthz) == (200, "ok\n"), "liveness must hold while draining"
    assert not c.streams[sid].done, "the in-flight request ended before /readyz said 503"
    r = c.wait_stream(sid, timeout=10)
    assert r.status == 200 and r.data.startswith(b"slept"), r
    c.close()
    assert srv.wait(15) == 0


def test_readyz_503_during_reload_until_new_workers_serve(start_server, tmp_path):
    """SIGHUP with --workers: 503 while the new generation boots (its app takes 0.5 s to import),
    200 again once it serves; requests keep succeeding throughout."""
    (tmp_path / "slowboot.py").write_text("import time\ntime.sleep(0.5)\nfrom apps import app\n")
    srv = start_server(["--metrics-bind", "127.0.0.1:0", "-w", "2"], app="slowboot:app",
                       cwd=str(tmp_path))
    _, readyz = _ops(srv)
    assert _poll(readyz, 200), "never ready"
    old = {p.pid for p in srv.children()}
    failures = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                with H2Client("127.0.0.1", srv.port) as c:
                    r = c.wait_stream(c.get("/hello"), timeout=5)
                    if r.status != 200:
                        failures.append(r)
            except OSError as exc:
                failures.append(exc)
            time.sleep(0.02)
    t = threading.Thread(target=traffic)
    t.start()
    try:
        srv.send_signal(signal.SIGHUP)
        assert _poll(readyz, 503, timeout=2), "readyz stayed 200 during the reload"
        assert _poll(readyz, 200, timeout=15), "readyz never came back after the reload"
        serving = srv.stderr_text()  # read when /readyz said 200 again
        new = {p.pid for p in srv.children()} - old
        assert len(new) >= 2, "ready again before the new workers existed"
        for pid in new:
            assert "serving (pid %d)" % pid in serving, "ready before worker %d served" % pid
    finally:
        stop.set()
        t.join(10)
    assert not failures, failures[:3]
