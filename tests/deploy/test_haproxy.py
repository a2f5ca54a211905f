"""deploy/haproxy: TLS + ALPN at HAProxy, three greenh2 backends over h2c, health checks on
greenh2's --health-path. While h2load runs over TLS through HAProxy: the rolling-restart script
restarts every backend with zero failed requests; a backend stopped with SIGTERM and --drain-delay
is taken out by the health check before it closes (zero failures); a backend killed with SIGKILL
is taken out and only requests in flight on it may fail."""
import csv
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from support.certs import make_self_signed
from support.server import subprocess_env
from support.tools import curl, h2load, require
from support.wait import wait_connections, wait_for

from .conftest import DEPLOY, REPO, free_port, need, wait_port

RECIPE = os.path.join(DEPLOY, "haproxy")
CONCURRENCY = (4, 4)  # h2load -c, -m: at most 16 requests in flight at any time
GREENH2_ARGS = ["--health-path", "/healthz", "--drain-delay", "1.5", "--graceful-timeout", "5"]


class Cluster:
    """HAProxy (the recipe's haproxy.cfg, unchanged) in front of three greenh2 processes, each
    started and stopped by the same shell commands the rolling-restart script is given."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.ports = [free_port() for _ in range(3)]
        self.https_port = free_port()
        certs = make_self_signed(str(tmp / "certs"))
        self.cacert = certs.certfile
        pem = tmp / "site.pem"
        pem.write_text(open(certs.certfile).read() + open(certs.keyfile).read())
        env = subprocess_env()
        args = " ".join(GREENH2_ARGS)
        (tmp / "start.sh").write_text(
            f"cd {REPO}; PYTHONPATH={env['PYTHONPATH']} setsid {sys.executable} -m greenh2 "
            f"-b 127.0.0.1:$1 {args} deploy.deploy_app:app > {tmp}/app$1.log 2>&1 < /dev/null &\n"
            f"echo $! > {tmp}/app$1.pid\n")
        (tmp / "stop.sh").write_text(
            f"set -e\np=$(cat {tmp}/app$1.pid)\nkill -${{2:-TERM}} $p\n"
            f"while kill -0 $p 2>/dev/null; do sleep 0.05; done\n")
        self.env = dict(os.environ, HAPROXY_BIND="127.0.0.1:%d" % self.https_port,
                        HAPROXY_CERT=str(pem), HAPROXY_RUNTIME=str(tmp),
                        **{"APP%d_ADDR" % (i + 1): "127.0.0.1:%d" % p for i, p in enumerate(self.ports)})
        self.haproxy = None

    def start(self, background):
        for port in self.ports:
            self.start_backend(port)
        for port in self.ports:
            wait_port(port, 15)
        self.haproxy = background(["haproxy", "-db", "-f", os.path.join(RECIPE, "haproxy.cfg")],
                                  "haproxy", env=self.env, cwd=str(self.tmp))
        wait_port(self.https_port)
        # HAProxy may bind its frontend before its runtime socket exists (seen on a loaded machine)
        wait_for(lambda: self.runtime("show info"), 15, "HAProxy's runtime socket")
        # readiness (not behaviour): generous, three interpreters start on a loaded machine
        self.wait_status(lambda rows: all(r["status"] == "UP" for r in rows.values()), "all UP", 30)

    def start_backend(self, port):
        subprocess.run(["sh", str(self.tmp / "start.sh"), str(port)], check=True)

    def pid(self, port):
        return int((self.tmp / ("app%d.pid" % port)).read_text())

    def close(self):
        for port in self.ports:
            try:
                os.kill(self.pid(port), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def runtime(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.tmp / "admin.sock"))
            s.sendall(command.encode() + b"\n")
            return b"".join(iter(lambda: s.recv(65536), b"")).decode()

    def servers(self):
        rows = csv.DictReader(io.StringIO(self.runtime("show stat").lstrip("# ")))
        return {r["svname"]: r for r in rows if r["pxname"] == "greenh2" and r["svname"].startswith("app")}

    def wait_status(self, predicate, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.servers()
            if predicate(rows):
                return rows
            time.sleep(0.05)
        raise AssertionError("HAProxy: not %s within %.0fs: %r" % (
            what, timeout, {n: (r["status"], r["check_status"]) for n, r in self.servers().items()}))

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.https_port, path)

    def who(self, n=9):
        """pids answering n requests through HAProxy (h2 over TLS), with their counts."""
        counts = {}
        for _ in range(n):
            r = curl(["--http2", "--cacert", self.cacert, self.url("/who")], timeout=5)
            assert r.status == 200 and r.http_version == "2"
            counts[int(r.body)] = counts.get(int(r.body), 0) + 1
        return counts


@pytest.fixture
def cluster(tmp_path, background):
    need("haproxy", "haproxy")
    require("h2load")
    c = Cluster(tmp_path)
    try:
        c.start(background)
        yield c
    finally:
        c.close()
        if c.haproxy is not None and c.haproxy.proc.poll() is not None:
            print(c.haproxy.output()[-3000:])


def load(cluster, seconds, path, rps=100):
    """h2load over TLS through HAProxy in a thread (rate-limited: the machine is shared);
    box["stats"] holds its figures when it ends."""
    box = {}

    def run():
        box["res"], box["stats"] = h2load(["-c", str(CONCURRENCY[0]), "-m", str(CONCURRENCY[1]),
                                           "--rps", str(rps), "-D", str(seconds), cluster.url(path)],
                                          timeout=seconds + 20)
    t = threading.Thread(target=run)
    t.start()
    return t, box


def test_h2_over_tls_reaches_greenh2_over_h2c(cluster):
    r = curl(["--http2", "--cacert", cluster.cacert, cluster.url("/environ")], timeout=5)
    assert r.status == 200 and r.http_version == "2"
    assert '"SERVER_PROTOCOL": "HTTP/2.0"' in r.body  # h2c upstream (proto h2)
    assert '"HTTP_X_FORWARDED_PROTO": "https"' in r.body
    assert '"wsgi.url_scheme": "https"' in r.body  # greenh2 trusts the loopback balancer
    assert sorted(cluster.who(6).values()) == [2, 2, 2]  # round robin over three processes


def load_until(cluster, done, path, chunk=2):
    """h2load runs of `chunk` seconds back to back until `done` is set (then one more), so the
    load covers the whole restart however long the shared machine makes it; summed figures."""
    box = {"runs": []}

    def run():
        while True:
            last = done.is_set()
            _, stats = h2load(["-c", str(CONCURRENCY[0]), "-m", str(CONCURRENCY[1]), "--rps", "100",
                               "-D", str(chunk), cluster.url(path)], timeout=chunk + 20)
            box["runs"].append(stats)
            if last:
                return
    t = threading.Thread(target=run)
    t.start()
    return t, box


def test_rolling_restart_drops_nothing_and_every_backend_serves_again(cluster):
    old = {cluster.pid(p) for p in cluster.ports}
    done = threading.Event()
    thread, box = load_until(cluster, done, "/who")
    wait_connections(cluster.https_port, CONCURRENCY[0])  # the load runs
    t0 = time.monotonic()
    try:
        script = subprocess.run(
            [sys.executable, os.path.join(RECIPE, "rolling-restart"), "--socket",
             str(cluster.tmp / "admin.sock"), "--backend", "greenh2",
             # SIGQUIT: graceful stop without --drain-delay (the runtime API drained it already)
             "--stop", "sh %s {port} QUIT" % (cluster.tmp / "stop.sh"),
             "--start", "sh %s {port}" % (cluster.tmp / "start.sh"),
             "--drain-timeout", "10", "--up-timeout", "15"],
            capture_output=True, text=True, timeout=60)
    finally:
        done.set()
    print(script.stdout)
    print("rolling restart of 3 backends: %.1fs" % (time.monotonic() - t0))
    thread.join(60)
    assert script.returncode == 0, script.stdout + script.stderr
    assert script.stdout.count("UP and in rotation") == 3, script.stdout
    runs = box["runs"]
    total = sum(r.total for r in runs)
    raw = "\n".join(r.raw[-600:] for r in runs)
    assert len(runs) >= 2 and total > 100, raw
    assert sum(r.done for r in runs) == total, raw
    assert sum(r.failed + r.errored + r.timeout for r in runs) == 0, raw
    assert sum(r.status_2xx for r in runs) == total, raw
    new = {cluster.pid(p) for p in cluster.ports}
    assert not new & old, "some backend was not restarted"
    counts = cluster.who(9)
    assert set(counts) == new and sorted(counts.values()) == [3, 3, 3], (counts, new)


def test_sigterm_with_drain_delay_is_taken_out_by_the_health_check_before_closing(cluster):
    """No runtime API: the backend's own 503 on /healthz takes it out (fall 2 x 300 ms) within
    its --drain-delay of 1.5 s, before its listener closes."""
    thread, box = load(cluster, 6, "/who")
    wait_connections(cluster.https_port, CONCURRENCY[0])  # the load runs
    victim = cluster.ports[1]
    os.kill(cluster.pid(victim), signal.SIGTERM)
    cluster.wait_status(lambda rows: rows["app2"]["status"].startswith("DOWN"), "app2 DOWN", 5)
    thread.join(30)
    stats = box["stats"]
    assert stats.done > 100 and stats.status_2xx == stats.done == stats.total, stats.raw[-1500:]
    # taken out by its 503 while still listening, not by a refused connection after closing
    assert "Server greenh2/app2 is DOWN, reason: Layer7 wrong status, code: 503" in \
        cluster.haproxy.output(), cluster.haproxy.output()[-3000:]


def test_sigkill_loses_at_most_the_requests_in_flight_on_that_backend(cluster):
    thread, box = load(cluster, 6, "/sleep?s=0.02")
    wait_connections(cluster.https_port, CONCURRENCY[0])  # the load runs
    victim = cluster.ports[2]
    victim_pid = cluster.pid(victim)
    os.kill(victim_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    cluster.wait_status(lambda rows: rows["app3"]["status"].startswith("DOWN"), "app3 DOWN", 5)
    out_after = time.monotonic() - killed_at
    thread.join(30)
    stats = box["stats"]
    lost = stats.total - stats.status_2xx
    in_flight_bound = CONCURRENCY[0] * CONCURRENCY[1]
    print("SIGKILL: %d of %d requests lost (bound %d), out of rotation after %.2fs"
          % (lost, stats.total, in_flight_bound, out_after))
    assert stats.total > 100, stats.raw[-1500:]
    assert lost <= in_flight_bound, stats.raw[-1500:]
    counts = cluster.who(6)
    assert victim_pid not in counts and len(counts) == 2 and sorted(counts.values()) == [3, 3]


def test_rolling_restart_stops_at_a_failed_stop_and_leaves_that_server_drained(cluster):
    script = subprocess.run(
        [sys.executable, os.path.join(RECIPE, "rolling-restart"), "--socket",
         str(cluster.tmp / "admin.sock"), "--backend", "greenh2", "--stop", "false",
         "--start", "true", "--drain-timeout", "5"], capture_output=True, text=True, timeout=30)
    assert script.returncode != 0 and "command failed: false" in script.stderr, script
    assert "app2" not in script.stdout  # a broken release never reaches a second server
    rows = cluster.servers()
    assert rows["app1"]["status"] == "DRAIN" and rows["app2"]["status"] == "UP", rows["app1"]["status"]
    counts = cluster.who(4)  # the other two keep serving
    assert cluster.pid(cluster.ports[0]) not in counts and len(counts) == 2
