"""Run ``python -m greenh2`` as a subprocess for integration tests."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil

from . import REPO_ROOT, TESTS_DIR

LISTEN_RE = re.compile(r"Listening at: (\S+)")
URL_RE = re.compile(r"^(https?)://(\[[^\]]+\]|[^:/]+):(\d+)$")


class ServerStartError(RuntimeError):
    pass


def _count_binds(args):
    n = 0
    for i, a in enumerate(args):
        if a in ("-b", "--bind"):
            n += 1
        elif a.startswith("--bind="):
            n += 1
        elif a.startswith("-b") and len(a) > 2 and not a.startswith("--"):
            n += 1
    return n


def subprocess_env(extra=None):
    """Environment for a server subprocess (greenh2 or gunicorn): tests/ and the repo on
    PYTHONPATH, no inherited GREENH2_* / GUNICORN_CMD_ARGS (they would change the config)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GREENH2_") and k != "GUNICORN_CMD_ARGS"}
    pp = [TESTS_DIR, REPO_ROOT]
    if env.get("PYTHONPATH"):
        pp.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(pp)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


class ServerProcess:
    """A greenh2 server subprocess.

    ``args`` are the CLI arguments after ``-m greenh2``. If they contain no
    ``-b/--bind``, ``-b 127.0.0.1:0`` is prepended. The process runs in its own
    process group (start_new_session) so teardown can kill workers as well.

    Use as a context manager, or call ``start()`` / ``close()``.

    Each server gets its own runtime directory (``runtime_dir``, passed as
    ``$XDG_RUNTIME_DIR``, so its default control socket is ``control_path``) unless ``env``
    names one: servers never share ``~/.greenh2`` or each other's control socket. The directory
    is made under the test's own ``$XDG_RUNTIME_DIR`` (conftest sets one per test) and removed
    at ``close()``.

    ``start()`` returns once every listener is bound ("Listening at:"): connections queue in
    the backlog from then on. ``wait_serving()`` waits for the "serving (pid N)" line(s), after
    the control socket and PID file exist and signal handlers are installed.
    """

    def __init__(self, args=(), env=None, cwd=None, start_timeout=30.0,
                 expect_listeners=None, add_default_bind=True):
        args = list(args)
        if add_default_bind and _count_binds(args) == 0:
            args = ["-b", "127.0.0.1:0"] + args
        self.args = args
        self.env = subprocess_env(env)
        self._own_runtime = "XDG_RUNTIME_DIR" not in (env or {})
        self.runtime_dir = self.env.get("XDG_RUNTIME_DIR", "")
        self.cwd = cwd or REPO_ROOT
        self.start_timeout = start_timeout
        self.expect_listeners = expect_listeners or max(1, _count_binds(args))
        self.proc = None
        self.urls = []
        self._lines = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._reader = None
        self._eof = False
        self._peak_rss = 0
        self._sampler = None
        self._sampling = threading.Event()

    # -- lifecycle ---------------------------------------------------------
    @property
    def control_path(self):
        """The default control socket path of this server (when no --control-socket is given)."""
        return os.path.join(self.runtime_dir, "greenh2.ctl")

    def start(self):
        if self._own_runtime:
            base = os.environ.get("XDG_RUNTIME_DIR")
            self.runtime_dir = tempfile.mkdtemp(
                prefix="srv", dir=base if base and os.path.isdir(base) else None)
            self.env["XDG_RUNTIME_DIR"] = self.runtime_dir
        cmd = [sys.executable, "-m", "greenh2"] + self.args
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        with self._cond:
            while len(self.urls) < self.expect_listeners:
                remaining = deadline - time.monotonic()
                if self._eof or self.proc.poll() is not None:
                    break
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.1))
        if len(self.urls) < self.expect_listeners:
            rc = self.proc.poll()
            self.close()
            raise ServerStartError(
                "greenh2 did not report %d 'Listening at:' line(s) within %.1fs "
                "(exit code %r)\ncommand: %s\n--- stderr ---\n%s"
                % (self.expect_listeners, self.start_timeout, rc, " ".join(cmd),
                   self.stderr_text())
            )
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampling.set()
        self._sampler.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Always kill the whole process group (idempotent)."""
        self._sampling.clear()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        else:
            # main process gone; make sure no orphaned workers of its group linger
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._reader is not None:
            self._reader.join(2)
        if self._own_runtime and self.runtime_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    # -- stderr ------------------------------------------------------------
    def _read_stderr(self):
        stream = self.proc.stderr
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self._lines.append(line)
                m = LISTEN_RE.search(line)
                if m and m.group(1) not in self.urls:
                    self.urls.append(m.group(1))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def stderr_text(self):
        with self._lock:
            return "\n".join(self._lines)

    def stderr_lines(self):
        with self._lock:
            return list(self._lines)

    def wait_for_stderr(self, pattern, timeout=5.0, start=0):
        """Wait until a stderr line (index >= start) matches regex *pattern*."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[start:]:
                    if rx.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    return None
                self._cond.wait(min(remaining, 0.1))

    def wait_serving(self, count=1, timeout=30.0):
        """Wait for ``count`` "greenh2 ... serving (pid N)" lines (one per process that serves:
        1 for a single process, one per worker with --workers); returns their pids."""
        rx = re.compile(r"greenh2 \S+ serving \(pid (\d+)\)")
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                pids = [int(m.group(1)) for m in map(rx.search, self._lines) if m]
                if len(pids) >= count:
                    return pids
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    raise AssertionError("%d of %d 'serving' line(s) within %.0fs:\n%s" % (
                        len(pids), count, timeout, "\n".join(self._lines)[-3000:]))
                self._cond.wait(min(remaining, 0.1))

    # -- addresses -----------------------------------------------------------
    @property
    def url(self):
        return self.urls[0]

    def _parse(self, url):
        m = URL_RE.match(url)
        if not m:
            raise ValueError("not a TCP url: %r" % url)
        host = m.group(2).strip("[]")
        return m.group(1), host, int(m.group(3))

    @property
    def port(self):
        return self._parse(self.url)[2]

    @property
    def host(self):
        return self._parse(self.url)[1]

    @property
    def scheme(self):
        return self._parse(self.url)[0]

    def url_for(self, path="/", index=0):
        return self.urls[index].rstrip("/") + path

    @property
    def pid(self):
        return self.proc.pid

    # -- processes / memory --------------------------------------------------
    def processes(self):
        try:
            p = psutil.Process(self.proc.pid)
            return [p] + p.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def children(self):
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def rss(self):
        """Current RSS in bytes summed over the server and all its children."""
        total = 0
        for p in self.processes():
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def _sample_rss(self):
        while self._sampling.is_set():
            if self.proc.poll() is not None:
                return
            r = self.rss()
            if r > self._peak_rss:
                self._peak_rss = r
            time.sleep(0.05)

    def peak_rss(self):
        """Peak summed RSS observed (sampled every 50 ms) since start/reset."""
        return max(self._peak_rss, self.rss())

    def reset_peak_rss(self):
        self._peak_rss = self.rss()

    # -- signals -------------------------------------------------------------
    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """Wait for exit; return the exit code or None on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self, sig=signal.SIGTERM, timeout=10.0):
        """Send *sig* to the main process and wait; return the exit code.

        Raises TimeoutError (after killing the group) when it does not exit.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        if rc is None:
            text = self.stderr_text()
            self.close()
            raise TimeoutError(
                "server did not exit within %.1fs after signal %s\n--- stderr ---\n%s"
                % (timeout, sig, text)
            )
        if self._reader is not None:
            self._reader.join(2)
        return rc


def run_cli(args, env=None, timeout=10.0, cwd=None):
    """Run ``python -m greenh2 args`` to completion; return CompletedProcess.

    Raises AssertionError (with output) if it does not finish within *timeout*.
    """
    cmd = [sys.executable, "-m", "greenh2"] + list(args)
    proc = subprocess.Popen(cmd, cwd=cwd or REPO_ROOT, env=subprocess_env(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        raise AssertionError(
            "greenh2 %r did not exit within %.1fs\nstdout:\n%s\nstderr:\n%s"
            % (args, timeout, out.decode(errors="replace"), err.decode(errors="replace"))
        )
    return subprocess.CompletedProcess(cmd, proc.returncode,
                                       out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))
