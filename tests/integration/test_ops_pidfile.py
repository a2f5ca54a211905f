"""-p/--pid FILE: written once listening, removed at exit, stale replaced, live refused."""
import os
import signal
import subprocess
import sys
import time

import pytest
from support.server import run_cli

pytestmark = pytest.mark.timeout(60)


def wait_file(path, expect, timeout=15.0):
    """The pid in `path` once it names `expect` (or whatever it names at the deadline)."""
    deadline = time.monotonic() + timeout
    pid = None
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as fh:
                text = fh.read()
            if text.endswith("\n"):
                pid = int(text)
                if pid == expect:
                    break
        time.sleep(0.05)
    return pid


@pytest.mark.parametrize("workers", [1, 2])
def test_pid_file_life_cycle(start_server, tmp_path, workers):
    pid_path = str(tmp_path / "g.pid")
    srv = start_server(["-p", pid_path, "-w", str(workers), "--no-control-socket"])
    assert wait_file(pid_path, srv.pid) == srv.pid  # the master's pid with --workers
    assert srv.terminate(signal.SIGTERM, timeout=20) == 0
    assert not os.path.exists(pid_path)


def test_stale_pid_file_is_replaced(start_server, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_path = tmp_path / "g.pid"
    pid_path.write_text("%d\n" % dead.pid)
    srv = start_server(["--pid", str(pid_path), "--no-control-socket"])
    assert wait_file(str(pid_path), srv.pid) == srv.pid


def test_live_pid_file_refuses_start(start_server, tmp_path):
    pid_path = str(tmp_path / "g.pid")
    first = start_server(["-p", pid_path, "--no-control-socket"])
    assert wait_file(pid_path, first.pid) == first.pid
    res = run_cli(["-b", "127.0.0.1:0", "-p", pid_path, "apps:app"])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert pid_path in lines[0] and str(first.pid) in lines[0]
    assert first.alive() and wait_file(pid_path, first.pid) == first.pid  # the running server's file stays
