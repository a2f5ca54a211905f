"""Chaos soak (issue 16 part 5): three greenh2 backends (--workers 2) behind HAProxy take
HTTP/1.1, h2c, server-sent event and WebSocket (over HTTP/1.1 and over h2c, RFC 8441) load
(load.py) for $GREENH2_SOAK_SECONDS (60 by default: the CI smoke; GREENH2_SOAK_SECONDS=600 is
the 10-minute run) while every ~2 s a random backend gets a random graceful action: SIGHUP
(replace the workers), SIGUSR1 (reopen logs), SIGTERM to one worker (the master starts
another), a backend restart (SIGTERM, then a new one on the same port), or SIGKILL to one
worker.
Graceful means nothing may be lost: every request gets a 2xx (HAProxy retries connection
failures only, on another server), every SSE stream all its events and a clean end, every
WebSocket close is 1001 or 1000 (HAProxy carries them to the backends as RFC 8441 streams over
h2), every backend exits 0 on SIGTERM and is alive at the end, no master leaks FDs. A SIGKILL
loses what was in flight on that worker and nothing else: attribution.py excuses a loss only
on evidence that it was (the app's per-worker trace, HAProxy's log, the time), at most what
HAProxy had in flight on that backend; every other loss fails the test.

soak.json (requests, lost, excused by SIGKILL with the evidence, per kill what HAProxy had in
flight and what was excused, closes by code, RSS/FD samples) goes to the test's tmp dir and,
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
from .attribution import attribute, read_haproxy, read_traces, server_of
from .cluster import Cluster

SECONDS = float(os.environ.get("GREENH2_SOAK_SECONDS", "60"))
CHAOS_EVERY = 2.0
FD_SLACK = 20
ACTIONS = ("SIGHUP", "SIGUSR1", "worker SIGTERM", "backend restart", "worker SIGKILL")


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


def _act(cluster, rng, log, kills):
    i = rng.randrange(len(cluster.backends))
    srv = cluster.backends[i]
    action = rng.choice(ACTIONS)
    t = round(time.monotonic() - cluster.t0, 2)
    wall = time.time()
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
        sig = signal.SIGKILL if action == "worker SIGKILL" else signal.SIGTERM
        workers = cluster.workers(srv)
        if not workers:
            action += " (none)"
        else:
            victim = rng.choice(workers)
            # what HAProxy has in flight on this backend: the most a kill may excuse
            in_flight = int(cluster.servers()[server_of(i)]["scur"] or 0) if sig == signal.SIGKILL else 0
            try:
                wall = time.time()
                victim.send_signal(sig)
            except Exception:  # psutil.NoSuchProcess: it was retiring anyway
                action += " (gone)"
            else:
                if sig == signal.SIGKILL:
                    kills.append({"t": wall, "pid": victim.pid, "backend": i, "haproxy_in_flight": in_flight})
                    action += " (pid %d, HAProxy in flight %d)" % (victim.pid, in_flight)
    log.append({"t": t, "wall": round(wall, 3), "backend": i, "action": action})


@pytest.mark.soak
@pytest.mark.timeout(SECONDS + 120)
def test_chaos_soak_loses_nothing(cluster, tmp_path):
    stop = threading.Event()
    tally = load.Tally()
    seed = os.environ.get("GREENH2_SOAK_SEED") or str(random.randrange(10**9))  # replays actions
    threads = load.start(cluster.port, stop, tally)
    try:
        rng = random.Random(seed)
        actions, kills = [], []
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            time.sleep(min(rng.uniform(0.5, 1.5) * CHAOS_EVERY, max(0.0, deadline - time.monotonic())))
            if time.monotonic() < deadline - 1.0:
                _act(cluster, rng, actions, kills)
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
    verdict = attribute(report.pop("failed_detail"), kills, read_traces(cluster.trace_dir),
                        read_haproxy(cluster.haproxy_log()))
    report.update(lost=len(verdict["unexcused"]), excused_by_sigkill=len(verdict["excused"]),
                  lost_detail=verdict["unexcused"][:200], excused_detail=verdict["excused"],
                  kills=[dict(k, excused=verdict["per_kill"].get(j, 0)) for j, k in enumerate(kills)],
                  excused_over_cap=verdict["over_cap"])
    report.update(seconds=SECONDS, seed=seed, actions=actions, start_master_fds=start_fds,
                  end_master_fds=end_fds, exit_codes=codes, bad_exits=cluster.bad_exits,
                  health_check_failures=cluster.check_failures(), samples=cluster.samples)
    _write_report(report, tmp_path)
    summary = {k: v for k, v in report.items() if k not in ("samples", "actions", "excused_detail")}
    print(json.dumps(summary, indent=1))
    err = "\n".join("--- backend %d ---\n%s" % (i, s.stderr_text()[-2000:])
                    for i, s in enumerate(cluster.backends))
    why = "%s\n--- haproxy ---\n%s\n%s" % (json.dumps(summary), cluster.haproxy_log()[-4000:], err)

    for kind in ("http1", "h2c", "sse-http1", "sse-h2c", "ws-http1", "ws-h2c"):  # every client got through
        assert report["ok"].get(kind, 0) >= 3, why
    assert report["requests"] > 100, why
    assert report["lost"] == 0, why
    assert not verdict["over_cap"], why
    # a WebSocket without a close frame is a loss: only a SIGKILL may excuse one
    assert set(report["ws_closes"]) <= {"1000", "1001", "none"}, why
    assert report["ws_closes"].get("none", 0) <= sum(e["kind"].startswith("ws") for e in verdict["excused"]), why
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
