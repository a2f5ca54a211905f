"""The pre-fork master forks with no other thread alive (issue 16, part 6): a thread alive at
fork() may hold a lock the child then waits for forever (Python 3.12 warns about it). The
master counts its threads (/proc/self/task) right before every fork and logs the count at debug
level; this test makes it fork in every way it does (first boot, a worker restart, `workers +1`,
a SIGHUP reload) while the services that used to run in threads are busy: a control client
connected and idle, another half-way through its line, a metrics client half-way through its
request head. Every fork must have been counted, and every count must be 1.
"""
import os
import re
import signal
import socket

import pytest
from support.ctl import ctl_json
from support.scrape import get, metrics_url
from support.wait import wait_for

pytestmark = pytest.mark.timeout(90)
FORK_RE = re.compile(r"forking a worker: (\d+) thread\(s\) in the master")


def _wait(predicate, what, timeout=20.0):
    return wait_for(predicate, timeout, what)


def _booted(srv):
    return len(re.findall(r"booted worker \d+", srv.stderr_text()))


def _control(path):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(path)
    return conn


def _ask(conn, line):
    conn.sendall(line)
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = conn.recv(65536)
        assert chunk, "the control socket closed"
        answer += chunk
    return answer


def test_no_thread_alive_in_the_master_at_any_fork(start_server, tmp_path):
    ctl = str(tmp_path / "g.ctl")
    srv = start_server(["--workers", "2", "--control-socket", ctl, "--metrics-bind", "127.0.0.1:0",
                        "--log-level", "debug"])
    url = metrics_url(srv)
    _wait(lambda: os.path.exists(ctl) and _booted(srv) >= 2, "the control socket, 2 workers")
    idle = _control(ctl)  # connected, asked once, stays open across the forks below
    assert b'"ok": true' in _ask(idle, b'{"command": "status"}\n')
    partial = _control(ctl)
    partial.sendall(b'{"command": "sta')  # half a line, finished after the forks
    host, port = re.match(r"http://([^:/]+):(\d+)/", url).groups()
    scraper = socket.create_connection((host, int(port)), timeout=10)
    scraper.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # half a request head

    workers = [w["pid"] for w in ctl_json(["-s", ctl, "status"])["workers"]]
    os.kill(workers[0], signal.SIGKILL)  # the master restarts it: fork 3
    _wait(lambda: _booted(srv) >= 3, "the restarted worker")
    assert ctl_json(["-s", ctl, "workers", "+1"])["target_workers"] == 3  # fork 4
    _wait(lambda: _booted(srv) >= 4, "the added worker")
    os.kill(srv.pid, signal.SIGHUP)  # a fresh set of 3: forks 5-7
    _wait(lambda: "SIGHUP: replacing" in srv.stderr_text() and _booted(srv) >= 7, "the reload")
    _wait(lambda: len(ctl_json(["-s", ctl, "status"])["workers"]) == 3
          and all(w["ready"] and not w["retiring"]
                  for w in ctl_json(["-s", ctl, "status"])["workers"]), "the reloaded set")

    # the services held up across every fork, and still answer
    partial.sendall(b'tus"}\n')
    assert b'"mode": "workers"' in _ask(partial, b"")
    assert b'"ok": true' in _ask(idle, b'{"command": "stats"}\n')
    scraper.sendall(b"\r\n")
    answer = b""
    while chunk := scraper.recv(65536):  # the ops listener closes after its answer
        answer += chunk
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"ok\n"), answer
    assert get(url.replace("/metrics", "/readyz"))[0] == 200
    for conn in (idle, partial, scraper):
        conn.close()

    log = srv.stderr_text()
    counts = [int(n) for n in FORK_RE.findall(log)]
    assert len(counts) == _booted(srv) >= 7, log[-3000:]  # every fork was counted
    assert counts == [1] * len(counts), log[-3000:]
    assert "may deadlock" not in log
    assert "Traceback" not in log, log[-3000:]
