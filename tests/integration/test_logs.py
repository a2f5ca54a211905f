"""--log-format json (one object per line, error and access lines) and SIGUSR1 log reopening
for logrotate, in one process and with --workers 2 (the master forwards the signal)."""
import json
import os
import re
import signal
import time

import pytest
from support import tools
from support.h2raw import H2Client

pytestmark = pytest.mark.timeout(60)
ACCESS_FIELDS = {"timestamp", "level", "pid", "remote_addr", "method", "path", "protocol",
                 "status", "bytes", "duration", "stream_id", "user_agent"}


def _lines(path, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        text = open(path).read() if os.path.exists(path) else ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_json_access_and_error_lines(start_server, tmp_path):
    access = str(tmp_path / "access.log")
    srv = start_server(["--log-format", "json", "--access-log", access])
    with H2Client("127.0.0.1", srv.port) as c:
        sid = c.get("/hello?x=1", headers=[("user-agent", "probe/1.0"), ("x-request-id", "req-42")])
        assert c.wait_stream(sid).status == 200
    tools.curl(["--http1.1", "-A", "curl-probe", srv.url_for("/error-before")])
    h2, h1 = [json.loads(line) for line in _lines(access, 2)]
    assert ACCESS_FIELDS <= set(h2) and ACCESS_FIELDS <= set(h1)
    assert (h2["method"], h2["path"], h2["query"], h2["protocol"], h2["status"]) == \
        ("GET", "/hello", "x=1", "HTTP/2.0", 200)
    assert h2["bytes"] == len(b"Hello, world!\n") and h2["stream_id"] == sid
    assert h2["user_agent"] == "probe/1.0" and h2["request_id"] == "req-42"
    assert h2["remote_addr"] == "127.0.0.1" and h2["pid"] == srv.pid
    assert isinstance(h2["duration"], float) and h2["duration"] >= 0
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", h2["timestamp"])
    assert (h1["protocol"], h1["status"], h1["stream_id"], h1["user_agent"]) == \
        ("HTTP/1.1", 500, None, "curl-probe")
    assert "request_id" not in h1
    # The error log (stderr here) is JSON too, traceback included.
    assert srv.wait_for_stderr(r'"level": "error"', timeout=5)
    errors = [json.loads(ln) for ln in srv.stderr_lines() if ln.startswith("{")]
    assert len(errors) == len(srv.stderr_lines()), "a non-JSON line on the error log"
    failed = [e for e in errors if e["level"] == "error"]
    assert failed and "Traceback" in failed[0]["exception"] and failed[0]["pid"] == srv.pid
    assert {"timestamp", "level", "pid", "message"} <= set(errors[0])


@pytest.mark.parametrize("workers", [1, 2])
def test_sigusr1_after_move_writes_a_new_file(start_server, tmp_path, workers):
    access = str(tmp_path / "access.log")
    srv = start_server(["--access-log", access, "-w", str(workers)])
    if workers > 1:
        deadline = time.monotonic() + 10
        while len(re.findall(r"serving \(pid", srv.stderr_text())) < workers \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    assert tools.curl([srv.url_for("/hello?before")]).status == 200
    assert len(_lines(access, 1)) == 1
    os.rename(access, access + ".1")  # what logrotate does
    mark = len(srv.stderr_lines())
    srv.send_signal(signal.SIGUSR1)
    # Every process reopens: the master (with --workers) and each worker.
    expected = workers + (1 if workers > 1 else 0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reopened = [ln for ln in srv.stderr_lines()[mark:] if "log files reopened" in ln]
        if len(reopened) >= expected:
            break
        time.sleep(0.05)
    assert len(reopened) == expected, srv.stderr_text()[-2000:]
    for i in range(6):  # new connections: with --workers they spread over the workers
        assert tools.curl([srv.url_for("/hello?after%d" % i)]).status == 200
    new = _lines(access, 6)
    old = open(access + ".1").read().splitlines()
    assert len(old) == 1 and "before" in old[0]
    assert len(new) == 6 and all("after" in ln for ln in new)
    assert srv.alive()
