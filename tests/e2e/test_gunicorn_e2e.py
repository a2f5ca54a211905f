"""End-to-end: real gunicorn arbiters with ``-k greenh2.worker`` on loopback.

Every arbiter is started with ``start_new_session=True`` and its whole process group is
SIGKILLed at teardown (conftest.py / gunicorn_proc.py).
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import pytest
from h2.settings import SettingCodes
from support import tools
from support.h2raw import H2Client
from support.wait import wait_for

from .gunicorn_proc import REPO_ROOT, gunicorn_env

pytestmark = pytest.mark.timeout(90)

HELLO = "Hello, world!\n"


def curl(server, path, *args, timeout=30.0, **kw):
    return tools.curl(list(args) + server.curl_args() + [server.url(path)], timeout=timeout, **kw)


def _live_group_members(pgid):
    """Non-zombie processes of a process group (orphaned zombies may wait for a slow init)."""
    live = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                live.append(p.pid)
        except (ProcessLookupError, psutil.Error):
            pass
    return live


def _wait_log(g, *needles, timeout=30.0):
    for needle in needles:
        assert g.wait_log(needle, timeout=timeout) is not None, \
            "no %r in the log within %.0fs:\n%s" % (needle, timeout, g.log_text()[-3000:])


def _accepted_by_worker(g, client_port):
    """A worker holds the server side of the connection from client_port (it was accepted)."""
    for pid in g.worker_pids():
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.raddr and c.raddr.port == client_port for c in conns):
            return True
    return False


def _reopened(g, path):
    """Every worker writes `path` anew: an open file at that path, none at the renamed one."""
    pids = g.worker_pids()
    for pid in pids:
        try:
            files = [f.path for f in psutil.Process(pid).open_files()]
        except psutil.Error:
            return False
        if path not in files or path + ".1" in files:
            return False
    return bool(pids)


def _run_threads(targets):
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    return threads


# ------------------------------------------------------------------------------------------------
# 1. protocol negotiation
def test_tls_alpn_selects_h2(tls_server):
    r = curl(tls_server, "/hello", "--http2")
    assert (r.status, r.http_version, r.body) == (200, "2", HELLO)
    with H2Client("127.0.0.1", tls_server.port, tls=True, alpn=("h2", "http/1.1")) as c:
        assert c.alpn == "h2"
        st = c.wait_stream(c.get("/hello"))
        assert st.status == 200 and bytes(st.data) == HELLO.encode()


def test_tls_http11_fallback(tls_server):
    r = curl(tls_server, "/hello", "--http1.1")
    assert (r.status, r.http_version, r.body) == (200, "1.1", HELLO)
    # a client offering only http/1.1 in ALPN, and one offering no ALPN at all
    status, body = tls_server.request("/hello")
    assert (status, body) == (200, HELLO.encode())


def test_h2c_prior_knowledge(plain_server):
    r = curl(plain_server, "/hello", "--http2-prior-knowledge")
    assert (r.status, r.http_version, r.body) == (200, "2", HELLO)


def test_h2c_upgrade(plain_server):
    r = curl(plain_server, "/hello", "--http2", "-v")
    assert (r.status, r.http_version, r.body) == (200, "2", HELLO)
    assert "101" in r.stderr, r.stderr[-2000:]


def test_h2c_upgrade_with_body(plain_server):
    data = os.urandom(20000)
    r = tools.curl(["--http2", "--data-binary", "@-", "-H", "Content-Type: application/octet-stream",
                    plain_server.url("/sha256")], input=data)
    assert r.status == 200
    assert json.loads(r.body) == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_cleartext_http11(plain_server):
    r = curl(plain_server, "/hello", "--http1.1")
    assert (r.status, r.http_version, r.body) == (200, "1.1", HELLO)


# ------------------------------------------------------------------------------------------------
# 2. many concurrent streams on one connection
def test_200_streams_on_one_connection_run_concurrently(gunicorn, certs):
    g = gunicorn(["--http2-max-concurrent-streams", "256"], tls=certs)
    t0 = time.monotonic()
    res, st = tools.h2load(["-c", "1", "-m", "200", "-n", "200", g.url("/sleep?s=0.5")], timeout=60)
    elapsed = time.monotonic() - t0
    assert st.protocol == "h2", res.stdout[-2000:]
    assert (st.succeeded, st.status_2xx, st.failed, st.errored, st.timeout) == (200, 200, 0, 0, 0), \
        res.stdout[-3000:]
    assert elapsed < 20, "200 x 0.5 s took %.1fs (serial would be 100 s)" % elapsed


# ------------------------------------------------------------------------------------------------
# 3. heartbeat: a long handler does not get its worker killed by gunicorn's --timeout
def test_long_request_survives_worker_timeout(gunicorn):
    g = gunicorn(["--timeout", "5"])
    before = g.worker_pids()
    results = {}

    def h1():
        results["h1"] = g.request("/sleep?s=8", timeout=30)

    def h2():
        results["h2"] = tools.curl(["--http2-prior-knowledge", g.url("/sleep?s=8")], timeout=30)

    for t in _run_threads([h1, h2]):
        t.join(40)
    assert results["h1"][0] == 200 and results["h1"][1].startswith(b"slept 8"), results
    assert results["h2"].status == 200 and results["h2"].http_version == "2", results
    assert g.worker_pids() == before, g.log_text()
    assert "WORKER TIMEOUT" not in g.log_text()


# ------------------------------------------------------------------------------------------------
# 4. SIGTERM: in-flight requests finish, the arbiter exits within graceful_timeout
def test_sigterm_lets_inflight_requests_finish(gunicorn):
    graceful = 10
    g = gunicorn(["--graceful-timeout", str(graceful)])
    results = {}

    def h1():
        try:
            results["h1"] = g.request("/sleep?s=2&note=h1", timeout=30)
        except Exception as exc:  # recorded and asserted below
            results["h1"] = exc

    def h2():
        results["h2"] = tools.run(["curl", "-sS", "--max-time", "30", "-w", "\n%{http_code} %{http_version}",
                                   "--http2-prior-knowledge", g.url("/sleep?s=2&note=h2")], timeout=35)

    threads = _run_threads([h1, h2])
    _wait_log(g, "apps: in /sleep h1", "apps: in /sleep h2")  # both inside the handler now
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    rc = g.wait_exit(graceful + 5)
    exited_after = time.monotonic() - t0
    for t in threads:
        t.join(35)
    assert rc is not None, "arbiter still running %ds after SIGTERM\n%s" % (graceful + 5, g.log_text())
    assert rc == 0, g.log_text()
    # it waited for the ~1.2 s the requests still needed, not for the whole graceful_timeout
    assert exited_after < graceful / 2, exited_after
    assert not isinstance(results["h1"], Exception), results["h1"]
    assert results["h1"][0] == 200 and results["h1"][1].startswith(b"slept 2"), results
    out = results["h2"].stdout
    assert results["h2"].returncode == 0 and out.startswith("slept 2") and out.endswith("200 2"), \
        (results["h2"], g.log_text())
    assert "graceful timeout" not in g.log_text()
    assert _live_group_members(g.pid) == [], "workers outlived the arbiter"


def test_sigterm_exit_is_bounded_by_graceful_timeout(gunicorn):
    graceful = 2
    g = gunicorn(["--graceful-timeout", str(graceful)])
    results = {}

    def h2():
        results["h2"] = tools.run(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge",
                                   g.url("/sleep?s=20&note=long")], timeout=35)

    threads = _run_threads([h2])
    _wait_log(g, "apps: in /sleep long")
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    rc = g.wait_exit(graceful + 8)
    exited_after = time.monotonic() - t0
    for t in threads:
        t.join(35)
    assert rc is not None, "arbiter still running %.0fs after SIGTERM\n%s" % (exited_after, g.log_text())
    assert exited_after < graceful + 4, (exited_after, g.log_text())
    assert results["h2"].returncode != 0, results["h2"]  # the 20 s request was cut off
    time.sleep(0.5)
    assert _live_group_members(g.pid) == [], "workers outlived the arbiter"


def test_sigterm_serves_a_connection_accepted_before_it(gunicorn):
    # A client connected (and accepted by the worker) just before SIGTERM, whose request bytes
    # arrive just after: the worker must answer it (Connection: close), not drop it unanswered.
    g = gunicorn(["--graceful-timeout", "5"], workers=1)
    with socket.create_connection(("127.0.0.1", g.port), timeout=5) as s:
        wait_for(lambda: _accepted_by_worker(g, s.getsockname()[1]), timeout=15,
                 what="the worker to accept the connection")
        g.signal(signal.SIGTERM)
        time.sleep(0.5)
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            data += repr(exc).encode()
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(HELLO.encode()), data[:300]
    assert g.wait_exit(10) == 0


# ------------------------------------------------------------------------------------------------
# 5. SIGHUP under steady traffic: no request fails
def test_sighup_reload_under_traffic_loses_nothing(gunicorn):
    g = gunicorn()
    old = g.worker_pids()
    stop = threading.Event()
    lock = threading.Lock()
    ok, failures = [0], []

    def record(good, what):
        with lock:
            if good:
                ok[0] += 1
            else:
                failures.append(what)

    def h1_loop():
        while not stop.is_set():
            try:
                status, body = g.request("/hello", timeout=10)
                record(status == 200 and body == HELLO.encode(), ("h1", status, body))
            except Exception as exc:
                record(False, ("h1", repr(exc)))
            time.sleep(0.02)

    def h2_loop():
        while not stop.is_set():
            r = tools.run(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code} %{http_version}",
                           "--http2-prior-knowledge", g.url("/hello")], timeout=15)
            record(r.returncode == 0 and r.stdout == HELLO + "\n200 2", ("h2", r.returncode, r.stdout, r.stderr))
            time.sleep(0.02)

    threads = _run_threads([h1_loop, h1_loop, h2_loop])
    # 50 answers before the SIGHUP and 50 after the old workers left: the >= 100 below holds on a
    # loaded machine too (traffic is counted, not timed)
    wait_for(lambda: ok[0] >= 50 or failures, timeout=60, what="traffic before SIGHUP")
    g.signal(signal.SIGHUP)
    new = g.wait_workers(2, exclude=old, timeout=20)
    # keep the traffic going while the old workers drain and exit
    deadline = time.monotonic() + 15
    while g.worker_pids() & old and time.monotonic() < deadline:
        time.sleep(0.1)
    served = ok[0]  # and traffic on the new workers alone
    wait_for(lambda: ok[0] >= served + 50 or failures, timeout=60,
             what="traffic after the old workers left")
    stop.set()
    for t in threads:
        t.join(20)
    assert not failures, "%d failed of %d: %r\n%s" % (len(failures), ok[0] + len(failures),
                                                      failures[:5], g.log_text()[-4000:])
    assert ok[0] >= 100, ok[0]
    assert g.worker_pids() == new and not (new & old), (old, new, g.worker_pids())


# ------------------------------------------------------------------------------------------------
# 6. kill -9 of one worker: respawned, requests keep succeeding
def test_killed_worker_is_respawned(gunicorn):
    g = gunicorn()
    old = g.worker_pids()
    assert len(old) == 2
    victim = min(old)
    os.kill(victim, signal.SIGKILL)
    statuses = [g.request("/pid")[0] for _ in range(20)]
    assert statuses == [200] * 20
    pids = g.wait_workers(2, exclude={victim}, timeout=20)
    assert victim not in pids and len(pids - old) == 1, (old, pids)
    served_by = set()
    for _ in range(30):
        status, body = g.request("/pid")
        assert status == 200
        served_by.add(int(body))
    assert served_by <= pids and victim not in served_by
    r = curl(g, "/hello", "--http2-prior-knowledge")
    assert (r.status, r.http_version) == (200, "2")


# ------------------------------------------------------------------------------------------------
# 7. --max-requests recycles workers without failing a request
def _pid_requests(g, n, pause):
    seen, failures = [], []
    for i in range(n):
        try:
            status, body = g.request("/pid", timeout=15)
            if status == 200:
                seen.append(int(body))
            else:
                failures.append((i, status, body))
        except Exception as exc:
            failures.append((i, repr(exc)))
        time.sleep(pause)
    return seen, failures


def test_max_requests_recycles_workers(gunicorn):
    g = gunicorn(["--max-requests", "20"])
    initial = g.worker_pids()
    seen, failures = _pid_requests(g, 100, pause=0.03)
    assert not failures, (failures[:5], g.log_text()[-4000:])
    assert set(seen) - initial, "no recycled worker served a request: %s" % sorted(set(seen))
    assert "Autorestarting worker" in g.log_text()
    now = g.wait_workers(2)
    assert now != initial


def test_max_requests_is_a_maximum_under_back_to_back_requests(gunicorn):
    # gunicorn: "the maximum number of requests a worker will process before restarting".
    # A worker that reached it must stop accepting at once, not ~0.2 s (the run loop's poll) later.
    g = gunicorn(["--max-requests", "20"])
    seen, failures = _pid_requests(g, 100, pause=0)
    assert not failures, (failures[:5], g.log_text()[-4000:])
    counts = {p: seen.count(p) for p in set(seen)}
    assert max(counts.values()) <= 20 + 2, "requests served per worker pid: %r" % counts


# ------------------------------------------------------------------------------------------------
# 8. access log through gunicorn's logger
def test_access_log_format_for_h2_and_h1(tls_server):
    curl(tls_server, "/hello?via=h2", "--http2")
    curl(tls_server, "/hello?via=h1", "--http1.1")
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        with open(tls_server.access_log) as f:
            lines = f.read().splitlines()
        if any("via=h2" in l for l in lines) and any("via=h1" in l for l in lines):
            break
        time.sleep(0.05)
    h2_lines = [l for l in lines if "via=h2" in l]
    h1_lines = [l for l in lines if "via=h1" in l]
    assert h2_lines == ['127.0.0.1 "GET /hello?via=h2 HTTP/2.0" 200 HTTP/2.0'], lines
    assert h1_lines == ['127.0.0.1 "GET /hello?via=h1 HTTP/1.1" 200 HTTP/1.1'], lines


# ------------------------------------------------------------------------------------------------
# 9. the Flask example over h2
def _check_flask_example(g):
    r = curl(g, "/", "--http2")
    assert (r.status, r.http_version) == (200, "2")
    doc = json.loads(r.body)
    assert doc["protocol"] == "HTTP/2.0", doc

    # SSE: several data: events, delivered as they are produced (not buffered to the end)
    res = tools.run(["curl", "-sS", "-k", "--http2", "-N", "--max-time", "20", "-w",
                     "\n__T__ %{http_code} %{http_version} %{time_starttransfer} %{time_total} %{content_type}",
                     g.url("/stream?n=6&interval=0.3")], timeout=25).check()
    body, _, tail = res.stdout.rpartition("\n__T__ ")
    code, version, ttfb, total, ctype = tail.split(" ", 4)
    assert (code, version) == ("200", "2") and ctype.startswith("text/event-stream"), tail
    data_lines = [l for l in body.splitlines() if l.startswith("data:")]
    assert [json.loads(l[5:]) for l in data_lines[:6]] == [{"token": i} for i in range(6)], body
    assert len(data_lines) == 7 and "event: done" in body, body
    assert float(total) >= 1.5 and float(ttfb) < float(total) - 1.0, (ttfb, total)

    data = os.urandom(300_000)
    r = tools.curl(["--http2", "-k", "--data-binary", "@-", "-H", "Content-Type: application/octet-stream",
                    g.url("/upload")], input=data)
    assert (r.status, r.http_version) == (200, "2"), r.body
    assert json.loads(r.body) == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_flask_example_over_h2(gunicorn, certs):
    g = gunicorn(app="examples.flask_app:app", tls=certs, cwd=REPO_ROOT, ready_path="/")
    _check_flask_example(g)


def test_flask_example_with_its_gunicorn_conf(gunicorn, certs):
    # examples/gunicorn.conf.py, its bind/cert taken from the environment as documented there
    g = gunicorn(["-c", "examples/gunicorn.conf.py"], app="examples.flask_app:app", tls=certs,
                 cwd=REPO_ROOT, ready_path="/", hooks=False,
                 env={"CERTFILE": certs.certfile, "KEYFILE": certs.keyfile, "WORKERS": "2"})
    _check_flask_example(g)
    # accesslog = "-" with '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'
    assert g.wait_log('"GET / HTTP/2.0" 200') is not None, g.log_text()


# ------------------------------------------------------------------------------------------------
# 10. the entry point
def test_egg_worker_class_resolves(gunicorn):
    g = gunicorn(worker_class="egg:greenh2#greenh2")
    r = curl(g, "/hello", "--http2-prior-knowledge")
    assert (r.status, r.http_version, r.body) == (200, "2", HELLO)
    assert "Using worker: egg:greenh2#greenh2" in g.log_text()


# ------------------------------------------------------------------------------------------------
# 11. import hygiene and the worker class
_IMPORT_CHECK = r"""
import inspect, json, sys
import greenh2
heavy = lambda: sorted(m for m in sys.modules if m.split(".")[0] in ("gevent", "OpenSSL", "gunicorn"))
after_greenh2 = heavy()
import gunicorn_worker
after_pkg = [m for m in heavy() if not m.startswith("gunicorn")]
w = greenh2.worker
from gunicorn.workers.base import Worker
from gunicorn.util import load_class
print(json.dumps({
    "after_greenh2": after_greenh2,
    "after_gunicorn_worker": after_pkg,
    "isclass": inspect.isclass(w),
    "subclass": inspect.isclass(w) and issubclass(w, Worker),
    "load_class_same": load_class("greenh2.worker") is w,
    "gevent_after_worker": sorted(m for m in sys.modules if m.split(".")[0] in ("gevent", "OpenSSL")),
}))
"""


def test_import_is_light_and_worker_is_a_class():
    p = subprocess.run([sys.executable, "-c", _IMPORT_CHECK], capture_output=True, text=True,
                       timeout=30, env=gunicorn_env(), cwd=REPO_ROOT)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["after_greenh2"] == [], out
    assert out["after_gunicorn_worker"] == [], out
    assert out["isclass"] and out["subclass"] and out["load_class_same"], out
    assert out["gevent_after_worker"] == [], out


# ------------------------------------------------------------------------------------------------
# 12. gunicorn settings mapping
def test_max_concurrent_streams_and_cleartext_mode_are_mapped(gunicorn):
    g = gunicorn(["--http2-max-concurrent-streams", "7", "--http2-cleartext", "prior-knowledge"])
    with H2Client("127.0.0.1", g.port) as c:
        first = c.settings_frames[0]
        assert first.get(SettingCodes.MAX_CONCURRENT_STREAMS) == 7, first
        assert c.remote_settings.max_concurrent_streams == 7
        st = c.wait_stream(c.get("/hello"))
        assert st.status == 200
    # --http2-cleartext prior-knowledge: no Upgrade: h2c, prior knowledge still works
    r = curl(g, "/hello", "--http2")
    assert (r.status, r.http_version, r.body) == (200, "1.1", HELLO)
    r = curl(g, "/hello", "--http2-prior-knowledge")
    assert (r.status, r.http_version) == (200, "2")


def test_http_protocols_not_given_serves_h2_and_says_so(gunicorn, certs):
    # settings.py: a gunicorn setting the user did not give leaves greenh2's default (h2,h1),
    # and the log says so once.
    g = gunicorn(tls=certs)
    r = curl(g, "/hello", "--http2")
    assert (r.status, r.http_version) == (200, "2")
    assert g.wait_log("http_protocols not given") is not None, g.log_text()


def test_explicit_http_protocols_h1_serves_http11_only(gunicorn, certs):
    # Given explicitly, h1 means HTTP/1.1 only, although it equals gunicorn's default value.
    g = gunicorn(["--http-protocols", "h1"], tls=certs)
    r = curl(g, "/hello", "--http2")
    assert (r.status, r.http_version, r.body) == (200, "1.1", HELLO)
    assert "http_protocols not given" not in g.log_text()


def test_explicit_http2_cleartext_off_refuses_h2c(gunicorn):
    g = gunicorn(["--http-protocols", "h2,h1", "--http2-cleartext", "off"])
    r = curl(g, "/hello", "--http2")  # Upgrade: h2c is ignored: answered over HTTP/1.1
    assert (r.status, r.http_version, r.body) == (200, "1.1", HELLO)


def test_greenh2_env_http_protocols_h1_serves_http11_only(gunicorn, certs):
    g = gunicorn(tls=certs, env={"GREENH2_HTTP_PROTOCOLS": "h1"})
    r = curl(g, "/hello", "--http2")
    assert (r.status, r.http_version, r.body) == (200, "1.1", HELLO)


def test_http_protocols_h2_h1_is_mapped(gunicorn, certs):
    g = gunicorn(["--http-protocols", "h2,h1"], tls=certs)
    assert (curl(g, "/hello", "--http2").http_version, curl(g, "/hello", "--http1.1").http_version) \
        == ("2", "1.1")
    assert "http_protocols not given" not in g.log_text()


def test_unix_socket_bind_serves_h1_and_h2c(gunicorn):
    d = tempfile.mkdtemp(prefix="gh2e2e-", dir="/tmp")
    try:
        path = os.path.join(d, "g.sock")
        g = gunicorn(bind="unix:" + path)
        r = curl(g, "/hello")
        assert (r.status, r.http_version, r.body) == (200, "1.1", HELLO)
        r = curl(g, "/hello", "--http2-prior-knowledge")
        assert (r.status, r.http_version, r.body) == (200, "2", HELLO)
        r = curl(g, "/environ")
        env = json.loads(r.body)
        assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["REQUEST_METHOD"] == "GET"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_limit_request_line_and_forwarded_allow_ips_are_mapped(gunicorn, plain_server):
    g = gunicorn(["--limit-request-line", "100", "--forwarded-allow-ips", "10.9.9.9"])
    status, _ = g.request("/hello?" + "x" * 200)
    assert status == 414
    status, body = g.request("/hello?" + "x" * 20)
    assert (status, body) == (200, HELLO.encode())
    # 127.0.0.1 is not a trusted proxy here: X-Forwarded-Proto is ignored ...
    status, body = g.request("/environ", headers={"X-Forwarded-Proto": "https"})
    assert status == 200 and json.loads(body)["wsgi.url_scheme"] == "http", body
    # ... while with gunicorn's default (127.0.0.1,::1) it is honoured
    status, body = plain_server.request("/environ", headers={"X-Forwarded-Proto": "https"})
    assert status == 200 and json.loads(body)["wsgi.url_scheme"] == "https", body


# ------------------------------------------------------------------------------------------------
# gunicorn hooks and log reopening
def test_pre_and_post_request_hooks_see_h2_and_h1_requests(gunicorn, certs):
    g = gunicorn(tls=certs, env={"E2E_LOG_REQUESTS": "1"})
    curl(g, "/hello?via=h2", "--http2")
    curl(g, "/status/404", "--http1.1")
    text = g.wait_log("e2e-post GET /status/404")
    assert text is not None, g.log_text()
    assert "e2e-pre GET /hello via=h2 (2, 0)" in text, text
    assert "e2e-post GET /hello (2, 0) 200 HTTP/2.0" in text, text
    assert "e2e-pre GET /status/404  (1, 1)" in text, text
    assert "e2e-post GET /status/404 (1, 1) 404 HTTP/1.1" in text, text


def test_usr1_reopens_the_access_log(gunicorn, tmp_path):
    log = tmp_path / "access.log"
    g = gunicorn(["--access-logfile", str(log), "--access-logformat", '"%(r)s" %(s)s'])
    curl(g, "/hello?n=1", "--http2-prior-knowledge")
    curl(g, "/hello?n=1b", "--http2-prior-knowledge")
    os.rename(log, str(log) + ".1")
    g.signal(signal.SIGUSR1)
    # the arbiter forwards USR1 to every worker; each reopens its files
    wait_for(lambda: _reopened(g, str(log)), timeout=15, what="every worker to reopen the log")
    for i in range(20):
        assert g.request("/hello?n=3-%d" % i)[0] == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (log.exists() and log.read_text().count("?n=3-") >= 20):
        time.sleep(0.1)
    assert log.exists(), g.log_text()
    new, old = log.read_text(), open(str(log) + ".1").read()
    assert new.count("?n=3-") == 20 and "?n=1" not in new, (new, old)
    assert old.count("?n=1") == 2 and "?n=3-" not in old, (new, old)
