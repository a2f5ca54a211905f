"""The table of benchmarked servers and the code that starts, watches and stops them.

Why this module exists: every server must be launched the same way (one process/worker, the
same app from benchmarks.apps, 127.0.0.1 on a free port, the same certificate), proven ready by
a real request, measured (peak RSS of its whole process tree) and always killed, whatever
happens. Adding a server is adding one entry to SERVERS.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from benchmarks.certs import CertPair

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)  # the benchmark venv's bin/ (not resolved on purpose)
# Another tree's greenh2 package (a checkout or `git archive BRANCH greenh2 | tar -x -C DIR`),
# benchmarked as server "greenh2-alt" in the same interleaved run as this checkout's greenh2.
ALT_TREE = os.environ.get("BENCH_ALT_TREE", "")

# (app, port, cert or None for cleartext) -> argv, or None when the server cannot do it.
ArgvBuilder = Callable[[str, int, CertPair | None], list | None]


def _target(app: str) -> str:
    """`hello` -> benchmarks.apps:hello; a full `module:attr` (benchmarks.flask_json:app) as is."""
    return app if ":" in app else f"benchmarks.apps:{app}"


def _gunicorn(app: str, port: int, cert: CertPair | None) -> list:
    argv = [os.path.join(BIN, "gunicorn"), "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}",
            "--http-protocols", "h2,h1", "--log-level", "warning", "--worker-connections", "20000"]
    if cert:
        return argv + ["--certfile", cert.certfile, "--keyfile", cert.keyfile,
                       _target(app)]
    return argv + ["--http2-cleartext", "prior-knowledge", _target(app)]


def _hypercorn(app: str, port: int, cert: CertPair | None) -> list:
    argv = [os.path.join(BIN, "hypercorn"), "-k", "uvloop", "-w", "1", "-b", f"127.0.0.1:{port}",
            "--log-level", "warning"]
    if cert:
        argv += ["--certfile", cert.certfile, "--keyfile", cert.keyfile]
    return argv + ["wsgi:" + _target(app)]


def _granian(app: str, port: int, cert: CertPair | None) -> list:
    argv = [os.path.join(BIN, "granian"), "--interface", "wsgi", "--workers", "1",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if cert:
        argv += ["--http", "auto", "--ssl-certificate", cert.certfile,
                 "--ssl-keyfile", cert.keyfile]
    else:
        argv += ["--http", "2"]  # cleartext "auto" would speak HTTP/1.1 only
    return argv + [_target(app)]


def _greenh2(app: str, port: int, cert: CertPair | None, extra: tuple = ()) -> list:
    argv = [sys.executable, "-m", "greenh2", "-b", f"127.0.0.1:{port}", "--workers", "1",
            "--log-level", "warning", *extra]
    if cert:
        argv += ["--certfile", cert.certfile, "--keyfile", cert.keyfile]
    return argv + [_target(app)]


def _greenh2_threads(app: str, port: int, cert: CertPair | None) -> list:
    return _greenh2(app, port, cert, ("--threads", "8"))


@dataclass(frozen=True)
class ServerDef:
    name: str
    label: str  # how the tables name it
    argv: ArgvBuilder
    package: str  # distribution whose version the report shows
    only: tuple = ()  # scenario keys it runs (empty: all)
    tree: str = ""  # run greenh2 from this tree's greenh2/ instead of this checkout's


SERVERS: dict = {s.name: s for s in [
    ServerDef("gunicorn", "gunicorn gevent (baseline)", _gunicorn, "gunicorn"),
    ServerDef("hypercorn", "hypercorn uvloop", _hypercorn, "hypercorn"),
    ServerDef("granian", "granian wsgi", _granian, "granian"),
    ServerDef("greenh2", "greenh2", _greenh2, "greenh2"),
    ServerDef("greenh2-threads", "greenh2 --threads 8", _greenh2_threads, "greenh2",
              only=("M1", "M8")),
]}
if ALT_TREE:
    SERVERS["greenh2-alt"] = ServerDef("greenh2-alt", f"greenh2 ({os.path.basename(ALT_TREE)})",
                                       _greenh2, "greenh2", tree=os.path.abspath(ALT_TREE))
BASELINE = "gunicorn"


class ServerError(RuntimeError):
    """A server could not be started or did not become ready."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 if it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def tree_hwm(pid: int) -> int:
    """Sum of VmHWM (each process's lifetime peak RSS) over a process tree, in bytes."""
    try:
        proc = psutil.Process(pid)
        pids = [proc.pid] + [c.pid for c in proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            pass
    return total


class RssSampler:
    """Peak RSS of a process tree during a `with` block.

    tree_rss is sampled every `interval` seconds in a thread; on exit the peak is raised to the
    tree's summed VmHWM (kernel-tracked peaks, so short spikes between samples are not missed;
    the sum can slightly overstate a tree whose processes peaked at different times).
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss(self.pid))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid), tree_hwm(self.pid))


@dataclass
class Running:
    """One started server process (group leader) with its URL and log file."""
    definition: ServerDef
    proc: subprocess.Popen
    url: str
    log_path: str
    argv: list = field(default_factory=list)

    def log_tail(self, lines: int = 15) -> str:
        """The last `lines` non-empty lines of the server's log, newest last."""
        try:
            with open(self.log_path, "rb") as f:
                kept = [ln for ln in f.read().splitlines() if ln.strip()][-lines:]
        except OSError:
            return ""
        return b"\n".join(kept).decode("utf-8", "replace")

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, SIGKILL it after `grace` seconds."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.proc.pid, signal.SIGKILL)  # stragglers of the group too
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL me if the harness dies without cleaning up (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _pythonpath(definition: ServerDef, scratch: str) -> str:
    """REPO, or for a server with a `tree`: a directory holding only a `greenh2` symlink to that
    tree's package, then REPO (so greenh2 comes from the tree, benchmarks from this checkout)."""
    if not definition.tree:
        return REPO
    shim = os.path.join(scratch, f"pythonpath-{definition.name}")
    os.makedirs(shim, exist_ok=True)
    link = os.path.join(shim, "greenh2")
    if os.path.islink(link):
        os.unlink(link)
    os.symlink(os.path.join(definition.tree, "greenh2"), link)
    return f"{shim}{os.pathsep}{REPO}"


def start(definition: ServerDef, app: str, cert: CertPair | None, log_path: str,
          ready_path: str = "/", ready_check: Callable[[str], str | None] | None = None,
          timeout: float = 30.0, extra_env: dict | None = None) -> Running | None:
    """Start `definition` serving benchmarks.apps:`app`; None if it cannot serve this mode.

    Readiness = a TCP connect succeeds and then ready_check(url + ready_path) returns None
    (it returns an error string otherwise). Raises ServerError (after killing the process)
    when the server exits early or is not ready within `timeout` seconds.
    """
    port = free_port()
    argv = definition.argv(app, port, cert)
    if argv is None:
        return None
    url = f"{'https' if cert else 'http'}://127.0.0.1:{port}"
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    env = dict(os.environ, PYTHONPATH=_pythonpath(definition, os.path.dirname(log_path)),
               PYTHONUNBUFFERED="1", **(extra_env or {}))
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
    running = Running(definition, proc, url, log_path, argv)
    deadline = time.monotonic() + timeout
    last_error = "no TCP listener"
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServerError(f"exited with code {proc.returncode}: {running.log_tail(1)}"
                                  f"\n{running.log_tail()}")
            if _tcp_open(port):
                last_error = ready_check(url + ready_path) if ready_check else None
                if last_error is None:
                    return running
            time.sleep(0.2)
        raise ServerError(f"not ready after {timeout:.0f}s ({last_error}); log: "
                          f"{running.log_tail(1)}\n{running.log_tail()}")
    except BaseException:
        running.stop(grace=2.0)
        raise
