"""The control socket and greenh2ctl against live servers (one process and --workers 2)."""
import json
import os
import stat

import pytest
from support.ctl import ctl_json, run_ctl
from support.h2raw import H2Client
from support.wait import wait_for

pytestmark = pytest.mark.timeout(90)


def started(start_server, tmp_path, args=()):
    sock = str(tmp_path / "g.ctl")
    srv = start_server(["--control-socket", sock, *args])
    wait_for(lambda: os.path.exists(sock), what="control socket")
    return srv, sock


def test_status_stats_stop_one_process(start_server, tmp_path):
    srv, sock = started(start_server, tmp_path)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    st = ctl_json(["-s", sock, "status"])
    assert st["pid"] == srv.pid and st["mode"] == "single" and st["listeners"] == [srv.url]
    assert st["version"] and st["uptime"] >= 0
    # an open h2 connection with one slow stream shows in status and stats
    c = H2Client("127.0.0.1", srv.port)
    sid = c.get("/sleep?s=3")
    c.read_events(timeout=0.5, raise_on_timeout=False)
    st = wait_for(lambda: (lambda s: s if s["streams"] == 1 else None)(
        ctl_json(["-s", sock, "status"])), what="one active stream")
    assert st["connections"] == 1
    stats = ctl_json(["-s", sock, "stats"])
    assert stats["live"]["connections"] == 1 and stats["live"]["streams"] == 1
    assert isinstance(stats["metrics"], dict)
    human = run_ctl(["-s", sock, "status"])
    assert human.returncode == 0 and "pid %d" % srv.pid in human.stdout
    assert "connections 1  streams 1" in human.stdout
    reopen = run_ctl(["-s", sock, "reopen"])  # SIGUSR1 only where a handler is installed
    assert reopen.returncode == 0 and srv.alive(), reopen.stderr
    bad = run_ctl(["-s", sock, "workers", "+1"])
    assert bad.returncode == 1 and "--workers" in bad.stderr
    # stop is graceful: the in-flight stream still completes
    assert ctl_json(["-s", sock, "stop"])["stopping"] is True
    r = c.wait_stream(sid, timeout=10)
    assert r.status == 200 and r.ended
    c.close()
    assert srv.wait(15) == 0
    assert not os.path.exists(sock)


def test_workers_status_scale_reload_stop(start_server, tmp_path):
    pid_path = str(tmp_path / "m.pid")
    srv, sock = started(start_server, tmp_path, ["-w", "2", "-p", pid_path])

    def rows(n):
        st = ctl_json(["--pid", pid_path, "status"])  # found through the PID file
        ready = [w for w in st["workers"] if w["ready"] and not w["retiring"]]
        return st if len(ready) == n and len(st["workers"]) == n else None
    st = wait_for(lambda: rows(2), what="2 ready workers")
    assert st["pid"] == srv.pid and st["mode"] == "workers"
    first = {w["pid"] for w in st["workers"]}
    assert first == {p.pid for p in srv.children()}
    c = H2Client("127.0.0.1", srv.port)
    c.get("/sleep?s=2")
    wait_for(lambda: ctl_json(["-s", sock, "stats"])["live"]["streams"] == 1, what="stream count")
    assert ctl_json(["-s", sock, "workers", "+1"])["target_workers"] == 3
    wait_for(lambda: rows(3), what="3 workers")
    assert ctl_json(["-s", sock, "workers", "-2"])["target_workers"] == 1
    wait_for(lambda: rows(1), what="1 worker")
    low = run_ctl(["-s", sock, "workers", "-1"])
    assert low.returncode == 1 and "out of range" in low.stderr
    before = {w["pid"] for w in ctl_json(["-s", sock, "status"])["workers"]}
    assert ctl_json(["-s", sock, "reload"])["reloading"] is True
    st = wait_for(lambda: (lambda s: s if s and not ({w["pid"] for w in s["workers"]} & before)
                           else None)(rows(1)), what="replaced worker")
    assert st["pid"] == srv.pid and st["reloads"] == 1
    c.close()
    assert ctl_json(["-s", sock, "stop"])["stopping"] is True
    assert srv.wait(20) == 0
    assert not os.path.exists(sock) and not os.path.exists(pid_path)


def test_default_path_under_runtime_dir(start_server, tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    srv = start_server([], env={"XDG_RUNTIME_DIR": str(runtime)})
    sock = str(runtime / "greenh2.ctl")
    wait_for(lambda: os.path.exists(sock), what="default control socket")
    st = ctl_json(["status"], env={"XDG_RUNTIME_DIR": str(runtime)})
    assert st["pid"] == srv.pid
    # a second server finds the path taken by a live server: it serves, without a socket
    other = start_server([], env={"XDG_RUNTIME_DIR": str(runtime)})
    assert other.wait_for_stderr("control socket off", timeout=10)
    assert ctl_json(["-s", sock, "status"])["pid"] == srv.pid


def test_no_control_socket_and_no_server(start_server, tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    start_server(["--no-control-socket"], env=env).wait_serving()  # (after the socket would be made)
    assert not os.listdir(runtime)
    res = run_ctl(["status"], env=env)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and "no server answers" in lines[0], res.stderr
    res = run_ctl(["--pid", str(tmp_path / "missing.pid"), "status"])
    assert res.returncode == 1 and "no server answers" in res.stderr


def test_protocol_errors_are_answers(start_server, tmp_path):
    import socket
    srv, sock = started(start_server, tmp_path)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock)
    f = s.makefile("rwb")
    for line in (b"not json\n", b'{"command": "frobnicate"}\n', b'{"command": "status"}\n'):
        f.write(line)
        f.flush()
        answers = json.loads(f.readline())
        if line.startswith(b'{"command": "status"'):
            assert answers["ok"] and answers["data"]["pid"] == srv.pid
        else:
            assert answers["ok"] is False and answers["error"]
    s.close()
    assert srv.alive()


PROBE_APP = '''
from prometheus_client import Counter
PROBE = Counter("greenh2_probe", "requests seen by the probe app")
OTHER = Counter("other_probe", "not greenh2's")

def app(environ, start_response):
    PROBE.inc()
    OTHER.inc()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
'''


def test_stats_reads_greenh2_metrics_from_the_registry(start_server, tmp_path):
    (tmp_path / "probeapp.py").write_text(PROBE_APP)
    sock = str(tmp_path / "g.ctl")
    srv = start_server(["--control-socket", sock], app="probeapp:app", cwd=str(tmp_path))
    wait_for(lambda: os.path.exists(sock), what="control socket")
    c = H2Client("127.0.0.1", srv.port)
    for sid in [c.get("/") for _ in range(3)]:
        assert c.wait_stream(sid).status == 200
    c.close()
    metrics = ctl_json(["-s", sock, "stats"])["metrics"]
    assert [s["value"] for s in metrics["greenh2_probe_total"]] == [3.0]
    assert not any(name.startswith("other_") for name in metrics)
    assert wait_for(lambda: ctl_json(["-s", sock, "stats"])["live"]["requests"] == 3,
                    what="request count")
