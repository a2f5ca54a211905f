"""Chaos soak (issue 16 part 5): three greenh2 backends (--workers 2) behind HAProxy take
HTTP/1.1, h2c, server-sent event and WebSocket (over HTTP/1.1 and over h2c, RFC 8441) load
(load.py) for $GREENH2_SOAK_SECONDS (60 by default: the CI smoke; GREENH2_SOAK_SECONDS=600 is
the 10-minute run) while every ~2 s a random backend gets a random graceful action: SIGHUP
(replace the workers), SIGUSR1 (reopen logs), SIGTERM to one worker (the master starts
another) or a backend restart (SIGTERM, then a new one on the same port).
Graceful means nothing may be lost: every request gets a 2xx (HAProxy retries connection
failures only, on another server), every SSE stream all its events and a clean end, every
WebSocket close is 1001 or 1000 (HAProxy carries them to the backends as RFC 8441 streams over
h2), every backend exits 0 on SIGTERM and is alive at the end, no master leaks FDs.

soak.json (requests, lost, closes by code, RSS/FD samples) goes to the test's tmp dir and,
with GREENH2_SOAK_REPORT=<dir>, there too with soak.png (RSS and FDs over time, matplotlib).
The report names the seed of the random actions; GREENH2_SOAK_SEED=<seed> replays them."""
import json
import os
import random
import shutil
import signal
import threading
import time

import pytest
from support.wait import wait_for

from . import load
from .cluster import Cluster

SECONDS = float(os.environ.get("GREENH2_SOAK_SECONDS", "60"))
CHAOS_EVERY = 2.0
FD_SLACK = 20
ACTIONS = ("SIGHUP", "SIGUSR1", "worker SIGTERM", "backend restart")


@pytest.fixture
def cluster(tmp_path):
    if not shutil.which("haproxy") and not os.path.exists("/usr/sbin/haproxy"):
        pytest.skip("haproxy not installed (Debian package haproxy; tests/run.sh installs it)")
    c = Cluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.close()


def _act(cluster, rng, log):
    i = rng.randrange(len(cluster.backends))
    srv = cluster.backends[i]
    action = rng.choice(ACTIONS)
    t = round(time.monotonic() - cluster.t0, 2)
    if action == "SIGHUP":
        srv.send_signal(signal.SIGHUP)
    elif action == "SIGUSR1":
        srv.send_signal(signal.SIGUSR1)
    elif action == "backend restart":
        code = cluster.restart(i)
        action += " (exit %s)" % code
        if code != 0:
            cluster.bad_exits.append((t, i, code))
    else:
        workers = cluster.workers(srv)
        if not workers:
            action += " (none)"
        else:
            victim = rng.choice(workers)
            try:
                victim.send_signal(signal.SIGTERM)
            except Exception:  # psutil.NoSuchProcess: it was retiring anyway
                action += " (gone)"
    log.append({"t": t, "backend": i, "action": action})


@pytest.mark.soak
@pytest.mark.timeout(SECONDS + 120)
def test_chaos_soak_loses_nothing(cluster, tmp_path):
    stop = threading.Event()
    tally = load.Tally()
    seed = os.environ.get("GREENH2_SOAK_SEED") or str(random.randrange(10**9))  # replays actions
    threads = load.start(cluster.port, stop, tally)
    try:
        rng = random.Random(seed)
        actions = []
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            time.sleep(min(rng.uniform(0.5, 1.5) * CHAOS_EVERY, max(0.0, deadline - time.monotonic())))
            if time.monotonic() < deadline - 1.0:
                _act(cluster, rng, actions)
        # settle: every backend has its 2 workers again and HAProxy sees them all UP
        for srv in cluster.backends:
            load_wait(lambda s=srv: len(cluster.workers(s)) == 2, "2 workers per backend")
        load_wait(lambda: all(r["status"] == "UP" for r in cluster.servers().values()), "all UP")
    finally:  # the clients stop whatever happened (they would spin on a dead cluster)
        stop.set()
        for t in threads:
            t.join(60)
    start_fds = cluster.start_fds
    end_fds = [cluster.master_fds(s) for s in cluster.backends]
    alive = [s.alive() for s in cluster.backends]
    codes = [s.terminate(signal.SIGTERM, timeout=30) if s.alive() else None for s in cluster.backends]

    report = tally.report()
    report["lost"] = report["failed"]
    report.update(seconds=SECONDS, seed=seed, actions=actions, start_master_fds=start_fds,
                  end_master_fds=end_fds, exit_codes=codes, bad_exits=cluster.bad_exits,
                  health_check_failures=cluster.check_failures(), samples=cluster.samples)
    _write_report(report, tmp_path)
    summary = {k: v for k, v in report.items() if k not in ("samples", "actions")}
    print(json.dumps({k: v for k, v in summary.items() if k != "failed_detail"}, indent=1))
    err = "\n".join("--- backend %d ---\n%s" % (i, s.stderr_text()[-2000:])
                    for i, s in enumerate(cluster.backends))
    why = "%s\n--- haproxy ---\n%s\n%s" % (json.dumps(summary), cluster.haproxy_log()[-4000:], err)

    for kind in ("http1", "h2c", "sse-http1", "sse-h2c", "ws-http1", "ws-h2c"):  # every client got through
        assert report["ok"].get(kind, 0) >= 3, why
    assert report["requests"] > 100, why
    assert report["lost"] == 0, why
    assert set(report["ws_closes"]) <= {"1000", "1001"}, why
    assert all(alive), why
    assert codes == [0] * len(codes) and not cluster.bad_exits, why
    for before, after in zip(start_fds, end_fds, strict=True):
        assert after <= before + FD_SLACK, why


def load_wait(predicate, what, timeout=60.0):
    wait_for(predicate, timeout, what, interval=0.2)


def _write_report(report, tmp_path):
    (tmp_path / "soak.json").write_text(json.dumps(report, indent=1))
    out = os.environ.get("GREENH2_SOAK_REPORT")
    if not out:
        return
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump(report, f, indent=1)
    from .chart import chart  # matplotlib only for the report run, never in the smoke
    chart(report, os.path.join(out, "soak.png"))
