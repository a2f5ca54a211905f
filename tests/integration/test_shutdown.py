"""Signals: graceful SIGTERM, worker respawn, SIGHUP without lost requests."""
import re
import signal
import socket
import threading
import time

import psutil
import pytest
from support import http1
from support.h2raw import H2Client
from support.wait import wait_for, wait_stderr

pytestmark = pytest.mark.timeout(60)


def _refused_within(port, seconds):
    """Poll new connections until one is refused; return True if that happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        except ConnectionRefusedError:
            return True
        except OSError:
            return True
        s.close()
        time.sleep(0.05)
    return False


def test_sigterm_inflight_h2_completes(start_server):
    srv = start_server(["--graceful-timeout", "10"])
    c = H2Client("127.0.0.1", srv.port)
    sid = c.get("/sleep?s=2&note=h2")
    wait_stderr(srv, "apps: in /sleep h2")  # the request is inside the app
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    assert _refused_within(srv.port, 1.5), "new connections still accepted after SIGTERM"
    assert not c.streams[sid].done, "in-flight stream ended early: %r" % c.streams[sid]
    r = c.wait_stream(sid, timeout=10)
    assert r.status == 200 and r.ended, r
    assert bytes(r.data).startswith(b"slept 2.0"), r.data
    c.read_events(until=lambda c: c.goaway is not None, timeout=5)
    assert c.goaway.error_code == 0, c.goaway
    rc = srv.wait(10 - (time.monotonic() - t0))
    c.close()
    assert rc == 0, "exit code %r\n%s" % (rc, srv.stderr_text()[-3000:])


def test_sigterm_inflight_h1_completes(start_server):
    srv = start_server(["--graceful-timeout", "10"])
    sock = http1.connect(srv.port)
    sock.sendall(b"GET /sleep?s=1.5&note=h1 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_stderr(srv, "apps: in /sleep h1")  # the request is inside the app
    srv.send_signal(signal.SIGTERM)
    reader = http1.Reader(sock)
    resp = http1.read_response(reader)
    assert resp.status == 200 and resp.body.startswith(b"slept"), resp
    # the connection is closed after the in-flight response (no keep-alive while draining)
    assert reader.at_eof(5)
    sock.close()
    assert srv.wait(10) == 0


def test_sigterm_idle_exits_quickly(start_server):
    srv = start_server(["--graceful-timeout", "10"])
    c = H2Client("127.0.0.1", srv.port)  # an idle open connection must not delay exit
    assert c.wait_stream(c.get("/hello")).status == 200
    t0 = time.monotonic()
    rc = srv.terminate(signal.SIGTERM, timeout=10)
    elapsed = time.monotonic() - t0
    c.close()
    assert rc == 0
    assert elapsed < 3.0, "idle server took %.1fs to exit" % elapsed


def test_sigint_is_graceful(start_server):
    srv = start_server(["--graceful-timeout", "5"])
    srv.wait_serving()  # (test_signal_right_after_ready signals at the first readiness line)
    assert srv.terminate(signal.SIGINT, timeout=8) == 0
    assert "Traceback" not in srv.stderr_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_right_after_ready(start_server, sig):
    """Once 'Listening at:' is printed (readiness), a stop signal is a clean shutdown."""
    for _ in range(3):
        srv = start_server([])
        rc = srv.terminate(sig, timeout=8)
        assert rc == 0 and "Traceback" not in srv.stderr_text(), (
            "exit %r right after readiness:\n%s" % (rc, srv.stderr_text()[-3000:]))


def test_graceful_timeout_bounds_shutdown(start_server):
    srv = start_server(["--graceful-timeout", "1"])
    c = H2Client("127.0.0.1", srv.port)
    c.get("/sleep?s=30&note=long")
    wait_stderr(srv, "apps: in /sleep long")
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(6)
    elapsed = time.monotonic() - t0
    c.close()
    assert rc is not None, "server still running %.1fs after SIGTERM with graceful timeout 1s" % elapsed
    assert elapsed < 5.0


def _worker_pids(srv, n, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        kids = [p for p in srv.children() if p.status() != psutil.STATUS_ZOMBIE]
        if len(kids) >= n or time.monotonic() > deadline:
            return sorted(p.pid for p in kids)
        time.sleep(0.1)


def _get_pid(port, timeout=5):
    resp = http1.simple(port, "GET", "/pid", timeout=timeout)
    assert resp.status == 200
    return int(resp.body)


def test_workers_respawn_after_sigkill(start_server):
    srv = start_server(["--workers", "2"])
    pids = _worker_pids(srv, 2)
    assert len(pids) == 2, "expected 2 worker processes, found %r" % pids
    victim = pids[0]
    psutil.Process(victim).send_signal(signal.SIGKILL)
    failures, served_by = [], set()
    for i in range(30):
        try:
            served_by.add(_get_pid(srv.port))
        except Exception as e:
            failures.append(repr(e))
        time.sleep(0.05)
    assert not failures, "requests failed after a worker was killed: %r" % failures
    new = _worker_pids(srv, 2)
    deadline = time.monotonic() + 10
    while (len(new) < 2 or victim in new) and time.monotonic() < deadline:
        time.sleep(0.2)
        new = _worker_pids(srv, 2, timeout=0)
    assert len(new) == 2 and victim not in new, "worker not respawned: before %r after %r" % (pids, new)
    assert srv.alive()
    # the respawned worker serves requests too (new connections spread over workers)
    for _ in range(40):
        served_by.add(_get_pid(srv.port))
        if set(new) <= served_by:
            break
    assert set(new) <= served_by, "not all workers serve: workers %r served_by %r" % (new, served_by)


# what the server logs once a reload has finished: the re-executed process serves the new code
# (one process); both old workers have stopped (--workers 2)
RELOADED = {1: (re.compile(r"reload complete"), 1), 2: (re.compile(r"\bstopped$"), 2)}


def _reloaded(srv, workers, start):
    rx, n = RELOADED[workers]
    return sum(1 for line in srv.stderr_lines()[start:] if rx.search(line)) >= n


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_loses_no_request(start_server, workers):
    srv = start_server(["--workers", str(workers), "--graceful-timeout", "10"])
    stop = threading.Event()
    results = {"ok": 0, "fail": []}

    def loop():
        while not stop.is_set():
            try:
                resp = http1.simple(srv.port, "GET", "/sleep?s=0.05", timeout=10)
                if resp.status == 200:
                    results["ok"] += 1
                else:
                    results["fail"].append(resp.status)
            except Exception as e:
                results["fail"].append(repr(e))

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: results["ok"] >= 5 or results["fail"], what="traffic before SIGHUP")
        before = results["ok"]
        for _ in range(2):
            done = len(srv.stderr_lines())
            srv.send_signal(signal.SIGHUP)
            # the reload is over (the old code drained), then traffic keeps going on the new one
            wait_for(lambda done=done: _reloaded(srv, workers, done), timeout=30,
                     what="the reload to end")
            ok = results["ok"]
            wait_for(lambda ok=ok: results["ok"] >= ok + 10 or results["fail"],
                     what="traffic after the reload")
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not results["fail"], "requests failed around SIGHUP: %r" % results["fail"][:10]
    assert results["ok"] > before + 5, "requests stalled after SIGHUP: %r" % results
    assert srv.alive(), "server died on SIGHUP:\n" + srv.stderr_text()[-3000:]
    assert _get_pid(srv.port)


def test_sigterm_two_step_goaway_serves_requests_already_sent(start_server):
    # RFC 9113 §6.8: the first GOAWAY says 2^31-1, so a request the client sent before it saw
    # the GOAWAY is still served; the final GOAWAY then names the real last stream.
    srv = start_server(["--graceful-timeout", "10"])
    c = H2Client("127.0.0.1", srv.port)
    first = c.get("/hello")
    assert c.wait_stream(first, timeout=5).status == 200
    slow = c.get("/sleep?s=1.5&note=slow")  # in flight: the GOAWAY waits for it (http2/drain.py)
    wait_stderr(srv, "apps: in /sleep slow")
    srv.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # a request sent while the client has not been told anything is served
    late = c.get("/hello")  # (test_shutdown_clients.py: one that crosses the GOAWAY, too)
    c.read_events(until=lambda c: c.goaway is not None, timeout=5)
    assert c.goaway.error_code == 0 and c.goaway.last_stream_id == 2**31 - 1, c.goaway
    r = c.wait_stream(late, timeout=5)
    assert r.status == 200 and r.ended, r
    assert c.wait_stream(slow, timeout=10).status == 200
    c.read_events(until=lambda c: c.goaway.last_stream_id == late, timeout=5)
    c.close()
    assert srv.wait(10) == 0, srv.stderr_text()[-3000:]


def test_sigterm_serves_connections_still_in_the_accept_queue(start_server):
    """A connection the kernel has accepted but the server has not (here: the pool is full) is
    served on a graceful stop, not reset by closing the listener (issue 16: a balancer with
    strict retry-on conn-failure lost the requests it had sent on such connections)."""
    srv = start_server(["--graceful-timeout", "10", "--worker-connections", "1",
                        "--no-shed-connections"])
    busy = http1.connect(srv.port)
    busy.sendall(b"GET /sleep?s=1.5&note=busy HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_stderr(srv, "apps: in /sleep busy")  # the one connection slot is taken
    queued = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    queued.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    queued.settimeout(0.5)
    with pytest.raises(socket.timeout):  # not accepted yet: nobody reads it
        queued.recv(1)
    srv.send_signal(signal.SIGTERM)
    queued.settimeout(10)
    resp = http1.read_response(http1.Reader(queued))
    assert resp.status == 200, resp
    assert http1.read_response(http1.Reader(busy)).status == 200
    assert srv.wait(15) == 0, srv.stderr_text()[-3000:]
    busy.close()
    queued.close()
