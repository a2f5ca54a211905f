"""The soak's cluster: three greenh2 backends (``--workers 2``, each its own runtime dir)
behind HAProxy in HTTP mode, with the deploy/haproxy recipe's retry policy (retry on connection
failure only, as issue 16 ran it, redispatch, 3 retries) and health checks on --health-path; the
restart of one backend on its port; a sampler of RSS and open FDs of every greenh2 process
(psutil, once a second)."""
import collections
import csv
import io
import os
import re
import signal
import socket
import subprocess
import threading
import time

import psutil
from support.ports import free_port
from support.server import ServerProcess
from support.wait import wait_for, wait_port

BACKENDS = 3
GREENH2_ARGS = ["--workers", "2", "--health-path", "/healthz", "--graceful-timeout", "10"]
APP = "soak.soak_app:app"

HAPROXY_CFG = """\
global
    log stderr format short local0 info
    stats socket "{runtime}/admin.sock" mode 600 level admin
defaults
    mode http
    log global
    option httplog
    # httplog's fields plus, for the SIGKILL attribution (test_soak.py): the accept time as
    # epoch s.ms, Th/Ti (so the request's own start is accept + Th + Ti; on a keep-alive
    # connection the accept time is the end of the previous request) and the log time in ms
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{{+Q}}r soak:%Ts.%ms/%Th/%Ti/%[date(0,ms)]"
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 120s
    timeout http-request 10s
    timeout http-keep-alive 60s
    retries 3
    retry-on conn-failure
    option redispatch 1
frontend soak
    bind 127.0.0.1:{port}
    default_backend greenh2
backend greenh2
    balance roundrobin
    option httpchk
    option log-health-checks
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host greenh2
    http-check expect status 200
    default-server proto h2 check inter 300ms fall 2 rise 2
{servers}
"""


class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.backends = []
        self.haproxy = None
        self.port = 0
        self.bad_exits = []  # (t, backend, code) of restarts that did not exit 0
        self.start_fds = []  # each master's open FDs once its workers serve
        self.samples = []  # dicts: t, backend, pid, role, rss, fds
        self._sampling = threading.Event()
        self._sampler = None
        self.t0 = time.monotonic()
        self.trace_dir = tmp / "trace"  # soak_app's per-worker request traces
        self.trace_dir.mkdir(exist_ok=True)

    # -- lifecycle -----------------------------------------------------------
    def start(self):
        for _ in range(BACKENDS):
            self.backends.append(self._backend(free_port()))
        for srv in self.backends:
            srv.wait_serving(2)
        self.start_fds = [self.master_fds(s) for s in self.backends]
        self.port = free_port()
        servers = "\n".join("    server app%d 127.0.0.1:%d" % (i + 1, s.port)
                            for i, s in enumerate(self.backends))
        cfg = self.tmp / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(runtime=self.tmp, port=self.port, servers=servers))
        self._log = open(self.tmp / "haproxy.log", "wb")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        wait_port(self.port)
        wait_for(lambda: all(r["status"] == "UP" for r in self.servers().values()), 30,
                 "every backend UP in HAProxy")
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _backend(self, port):
        env = {"SOAK_TRACE_DIR": str(self.trace_dir)}
        return ServerProcess(["-b", "127.0.0.1:%d" % port] + GREENH2_ARGS + [APP], env=env).start()

    def restart(self, i):
        """Stop backend i with SIGTERM (graceful; its exit code is returned) and start a new
        one on the same port; returns once its workers serve. HAProxy retries (redispatch)
        what meets the closed port meanwhile."""
        old = self.backends[i]
        code = old.terminate(signal.SIGTERM, timeout=30)
        old.close()
        new = self._backend(old.port)
        new.wait_serving(2)
        self.backends[i] = new
        self.start_fds[i] = self.master_fds(new)
        return code

    def close(self):
        self._sampling.clear()
        for srv in self.backends:
            srv.close()
        if self.haproxy is not None:
            if self.haproxy.poll() is None:
                os.killpg(self.haproxy.pid, signal.SIGKILL)
                self.haproxy.wait(5)
            self._log.close()

    def haproxy_log(self):
        return (self.tmp / "haproxy.log").read_text(errors="replace")

    def check_failures(self):
        """Failed health checks HAProxy logged (option log-health-checks), by reason: a
        restart's "Connection refused" is expected; a "reset by peer" is what issue 16 saw
        around a reload before it lost requests."""
        reasons = collections.Counter()
        for line in self.haproxy_log().splitlines():
            if "Health check for server" in line and "failed" in line and not line.startswith("<"):
                m = re.search(r'info: "([^"]*)"', line)
                reasons[m.group(1) if m else line.split("reason: ", 1)[-1][:80]] += 1
        return dict(reasons)

    # -- HAProxy runtime API -------------------------------------------------
    def runtime(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.tmp / "admin.sock"))
            s.sendall(command.encode() + b"\n")
            return b"".join(iter(lambda: s.recv(65536), b"")).decode()

    def servers(self):
        rows = csv.DictReader(io.StringIO(self.runtime("show stat").lstrip("# ")))
        return {r["svname"]: r for r in rows if r["pxname"] == "greenh2" and r["svname"].startswith("app")}

    # -- processes -----------------------------------------------------------
    @staticmethod
    def workers(srv):
        return srv.children()

    def _sample(self):
        while self._sampling.is_set():
            t = round(time.monotonic() - self.t0, 2)
            for i, srv in enumerate(self.backends):
                for p in srv.processes():
                    try:
                        with p.oneshot():
                            if p.status() == psutil.STATUS_ZOMBIE:  # exited, not reaped yet
                                continue
                            row = {"t": t, "backend": i, "pid": p.pid,
                                   "role": "master" if p.pid == srv.pid else "worker",
                                   "rss": p.memory_info().rss, "fds": p.num_fds()}
                    except psutil.Error:
                        continue
                    self.samples.append(row)
            time.sleep(1.0)

    def master_fds(self, srv):
        return psutil.Process(srv.pid).num_fds()
