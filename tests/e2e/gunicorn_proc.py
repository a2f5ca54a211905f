"""Run real gunicorn arbiters with ``-k greenh2.worker`` for the end-to-end tests.

Every arbiter runs in its own session (``start_new_session=True``) so teardown can SIGKILL the
whole process group (arbiter + workers) no matter what state a test left it in. Output goes to a
log file (no pipe that could fill up and block the arbiter).
"""
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

import psutil
from support import ports
from support.server import subprocess_env

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(E2E_DIR)
REPO_ROOT = os.path.dirname(TESTS_DIR)
HOOKS = os.path.join(E2E_DIR, "gunicorn_hooks.py")
READY_RE = re.compile(r"e2e-ready pid=(\d+)")


free_port = ports.free_port  # outside the ephemeral range, a slice per xdist worker


gunicorn_env = subprocess_env


def insecure_ctx(alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class GunicornError(AssertionError):
    pass


class Gunicorn:
    """One ``python -m gunicorn -k <worker_class> ...`` arbiter.

    ``args`` are extra gunicorn options; ``app`` is the WSGI app (``apps:app`` from tests/ by
    default). With ``tls`` (a CertPair) ``--certfile/--keyfile`` are added. ``bind`` defaults to
    a fresh 127.0.0.1 port; pass ``unix:/path`` for a unix socket. With ``hooks`` (default) the
    arbiter loads gunicorn_hooks.py (``-c``), whose marker line tells when a worker serves.
    """

    def __init__(self, log_dir, args=(), app="apps:app", workers=2, tls=None, bind=None,
                 worker_class="greenh2.worker", env=None, cwd=TESTS_DIR, ready_path="/hello",
                 start_timeout=30.0, hooks=True):
        self.tls = tls
        if bind is None:
            bind = "127.0.0.1:%d" % free_port()
        self.bind = bind
        self.unix_path = bind[len("unix:"):] if bind.startswith("unix:") else None
        if self.unix_path is None:
            host, _, port = bind.rpartition(":")
            self.host, self.port = host, int(port)
        self.workers = workers
        self.cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", worker_class,
                    "-b", bind, "--no-control-socket"]
        self.hooks = hooks
        if hooks:
            self.cmd += ["-c", HOOKS]
        if tls is not None:
            self.cmd += ["--certfile", tls.certfile, "--keyfile", tls.keyfile]
        self.cmd += list(args) + [app]
        self.env = gunicorn_env(env)
        self.cwd = cwd
        self.ready_path = ready_path
        self.start_timeout = start_timeout
        os.makedirs(log_dir, exist_ok=True)
        self.log_path = os.path.join(log_dir, "gunicorn-%d.log" % id(self))
        self.proc = None
        self._log = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.wait_ready(self.start_timeout)
            self.wait_workers(self.workers, timeout=self.start_timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout=30.0):
        """Poll a TCP (or unix) connect, then an HTTP request, until it answers."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GunicornError("gunicorn exited with %r before it was ready\n%s\n%s"
                                    % (self.proc.returncode, " ".join(self.cmd), self.log_text()))
            try:
                self._probe_connect()
                status, _ = self.request(self.ready_path, timeout=5.0)
                if status < 500:
                    return
                last = "status %d" % status
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise GunicornError("gunicorn did not answer %s within %.0fs (last: %s)\n%s\n%s"
                            % (self.ready_path, timeout, last, " ".join(self.cmd), self.log_text()))

    def _probe_connect(self):
        if self.unix_path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2.0)
            try:
                s.connect(self.unix_path)
            finally:
                s.close()
        else:
            socket.create_connection((self.host, self.port), timeout=2.0).close()

    def kill(self):
        """SIGKILL the whole process group (idempotent)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self._log is not None and not self._log.closed:
            self._log.close()
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    # -- processes ---------------------------------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid

    def worker_pids(self):
        try:
            kids = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return set()
        pids = set()
        for k in kids:
            try:
                if k.status() != psutil.STATUS_ZOMBIE:
                    pids.add(k.pid)
            except psutil.NoSuchProcess:
                pass
        return pids

    def ready_pids(self):
        """Pids that logged the post_worker_init marker (app loaded, about to serve)."""
        return {int(p) for p in READY_RE.findall(self.log_text())}

    def wait_workers(self, n, exclude=(), timeout=20.0):
        """Wait until n live (and, with hooks, ready) workers exist whose pids are not in
        *exclude*; return their pids."""
        exclude = set(exclude)
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids() - exclude
            if self.hooks:
                pids &= self.ready_pids()
            if len(pids) >= n:
                return pids
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise GunicornError("expected %d workers (excluding %s), have %s\n%s"
                                    % (n, sorted(exclude), sorted(self.worker_pids()),
                                       self.log_text()))
            time.sleep(0.1)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    # -- addresses / clients ---------------------------------------------------------------------
    @property
    def scheme(self):
        return "https" if self.tls is not None else "http"

    def url(self, path="/"):
        if self.unix_path:
            return "http://localhost" + path
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def curl_args(self):
        """Extra curl arguments to reach this server (unix socket, insecure TLS)."""
        args = []
        if self.unix_path:
            args += ["--unix-socket", self.unix_path]
        if self.tls is not None:
            args += ["-k"]
        return args

    def connection(self, timeout=10.0):
        if self.unix_path:
            return UnixHTTPConnection(self.unix_path, timeout=timeout)
        if self.tls is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=insecure_ctx(("http/1.1",)))
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, path, method="GET", body=None, headers=None, timeout=10.0):
        """One HTTP/1.1 request on a new connection (Connection: close): (status, body)."""
        conn = self.connection(timeout)
        try:
            hdrs = {"Connection": "close"}
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    # -- log ---------------------------------------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
