"""deploy/systemd: the units pass `systemd-analyze verify`; the service's own command line, run
under `systemd-socket-activate`, serves h2 on the inherited socket (with its --workers master),
and a NOTIFY_SOCKET receiver sees READY=1 then STOPPING=1 (abstract and path sockets)."""
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

from support.server import subprocess_env
from support.tools import curl
from support.wait import wait_listening

from .conftest import APP, DEPLOY, REPO, free_port, need

UNITS = os.path.join(DEPLOY, "systemd")


def unit_value(text, key):
    values = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]
    assert len(values) == 1, "%s= appears %d times" % (key, len(values))
    return values[0]


def service_argv():
    """ExecStart of greenh2.service: the executable and the greenh2 arguments (app last)."""
    with open(os.path.join(UNITS, "greenh2.service")) as f:
        argv = shlex.split(unit_value(f.read(), "ExecStart"))
    assert argv[0].endswith("/greenh2") and ":" in argv[-1]
    return argv


class NotifyReceiver:
    """The service manager's end of NOTIFY_SOCKET: collects every datagram."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.messages = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def wait_for(self, line, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if line in m.split("\n"):
                    return m
            time.sleep(0.05)
        raise AssertionError("no %r from the service within %.0fs; got %r" % (line, timeout, self.messages))

    def close(self):
        self._stop = True
        self.sock.close()
        self._thread.join(2)


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = need("systemd-analyze", "systemd")
    for name in ("greenh2.service", "greenh2.socket"):
        with open(os.path.join(UNITS, name)) as f:
            text = f.read()
        # verify wants an executable that exists: point ExecStart at this interpreter
        text = text.replace(service_argv()[0], sys.executable + " -m greenh2")
        text = text.replace("WorkingDirectory=/srv/app", "WorkingDirectory=" + REPO)
        (tmp_path / name).write_text(text)
    res = subprocess.run([analyze, "verify", str(tmp_path / "greenh2.socket"),
                          str(tmp_path / "greenh2.service")], capture_output=True, text=True, timeout=60)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Unknown" not in out and "ignoring" not in out, out


def start_activated(cmd_after_port, log_path, attempts=3):
    """Start ``systemd-socket-activate -l 127.0.0.1:PORT <cmd_after_port>`` on a free port and
    return (proc, port, log file) once it LISTENS. Popen returns before it has bound the port:
    a client started at once is refused (curl: could not connect) on a loaded machine. The
    wait does not connect (a connection would make it exec the service). A port taken between
    free_port() and the bind is retried with another one."""
    need("systemd-socket-activate", "systemd")
    for attempt in range(attempts):
        port = free_port()
        log = open(log_path, "wb")
        proc = subprocess.Popen(["systemd-socket-activate", "-l", "127.0.0.1:%d" % port]
                                + cmd_after_port, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_listening(port, proc, what="systemd-socket-activate")
            return proc, port, log
        except AssertionError:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            log.close()
            if attempt == attempts - 1:
                raise AssertionError(open(log_path).read())
    raise AssertionError("unreachable")


def _activate(argv, notify, tmp_path):
    env = subprocess_env()
    passed = ["-E", "PYTHONPATH=" + env["PYTHONPATH"], "-E", "PYTHONUNBUFFERED=1",
              "-E", "NOTIFY_SOCKET=" + notify, "-E", "XDG_RUNTIME_DIR=" + str(tmp_path)]
    return start_activated(["--fdname=http"] + passed + [sys.executable, "-m", "greenh2"] + argv,
                           tmp_path / "service.log")


def _run_service(argv, notify_address, tmp_path, expect_workers):
    receiver = NotifyReceiver(notify_address)
    proc, port, log = _activate(argv, notify_address, tmp_path)
    try:
        # systemd-socket-activate execs greenh2 at the first connection: this request waits in
        # the backlog of the inherited socket and is served once greenh2 is up
        r = curl(["--http2-prior-knowledge", "http://127.0.0.1:%d/who" % port], timeout=15)
        assert r.status == 200 and r.http_version == "2", r.body
        ready = receiver.wait_for("READY=1")
        assert "MAINPID=%d" % proc.pid in ready.split("\n"), ready
        pids = {curl(["--http2-prior-knowledge", "http://127.0.0.1:%d/who" % port]).body
                for _ in range(6)}
        if expect_workers > 1:
            assert str(proc.pid) not in pids  # workers answer, the master only supervises
            proc.send_signal(signal.SIGHUP)  # ExecReload: RELOADING=1, then READY=1 again
            reloading = receiver.wait_for("RELOADING=1")
            assert any(x.startswith("MONOTONIC_USEC=") for x in reloading.split("\n"))
            deadline = time.monotonic() + 10
            while not any("READY=1" in m and "reloaded" in m for m in receiver.messages):
                assert time.monotonic() < deadline, receiver.messages
                time.sleep(0.05)
            r = curl(["--http2-prior-knowledge", "http://127.0.0.1:%d/who" % port], timeout=15)
            assert r.status == 200
        else:
            assert pids == {str(proc.pid)}
        text = open(tmp_path / "service.log").read()
        assert "socket activation: 1 listening socket(s) from the service manager (http)" in text, text
        assert "127.0.0.1:8000" not in text  # --bind default ignored
        proc.send_signal(signal.SIGTERM)
        stopping = receiver.wait_for("STOPPING=1")
        assert any(line.startswith("STATUS=") for line in stopping.split("\n"))
        assert proc.wait(20) == 0, open(tmp_path / "service.log").read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
        receiver.close()


def test_service_command_line_under_socket_activation_serves_h2_and_notifies(tmp_path):
    argv = service_argv()[1:-1] + [APP]
    argv[argv.index("--drain-delay") + 1] = "1"  # the unit's 5 s, shortened for the test
    workers = int(argv[argv.index("--workers") + 1])
    assert workers > 1
    _run_service(argv, "@greenh2-test-" + uuid.uuid4().hex, tmp_path, workers)


def test_single_process_socket_activation_with_path_notify_socket(tmp_path):
    _run_service([APP], str(tmp_path / "notify.sock"), tmp_path, 1)


def test_notify_is_a_noop_outside_systemd(monkeypatch):
    from greenh2.ops import systemd
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.ready() is False
    env = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}  # meant for another process: not ours
    assert systemd.listen_fds(env) == [] and "LISTEN_FDS" not in env


def test_gunicorn_worker_accepts_on_socket_activated_listener(tmp_path):
    """gunicorn does socket activation itself (LISTEN_FDS); the greenh2 worker serves on it,
    and answers the health path set through GREENH2_HEALTH_PATH."""
    env = subprocess_env()
    cmd = ["-E", "PYTHONPATH=" + env["PYTHONPATH"], "-E", "PYTHONUNBUFFERED=1",
           "-E", "GREENH2_HEALTH_PATH=/healthz",  # greenh2 settings reach the worker this way
           "-E", "XDG_RUNTIME_DIR=" + str(tmp_path),
           sys.executable, "-m", "gunicorn", "-k", "greenh2.worker", "-w", "1",
           "--graceful-timeout", "2", APP]
    proc, port, log = start_activated(cmd, tmp_path / "gunicorn.log")
    try:
        r = curl(["--http2-prior-knowledge", "http://127.0.0.1:%d/who" % port], timeout=20)
        assert r.status == 200 and r.http_version == "2"
        assert r.body != str(proc.pid)  # a gunicorn worker answered, not the arbiter
        r = curl(["--http1.1", "http://127.0.0.1:%d/healthz" % port], timeout=10)
        assert (r.status, r.body) == (200, "ok\n")  # --health-path works under gunicorn too
        text = open(tmp_path / "gunicorn.log").read()
        assert "Listening at: http://127.0.0.1:%d" % port in text, text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
