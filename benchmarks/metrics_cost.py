#!/usr/bin/env python3
"""The per-request cost of `--metrics-bind`: `python3 benchmarks/metrics_cost.py [--quick]`.

Why this module exists: issue 10 asks that Prometheus metrics cost at most a few percent per
request. Two greenh2 processes from this checkout serve benchmarks.apps:hello over h2c, one
without and one with `--metrics-bind` (and the metrics listener is scraped once a second, as
Prometheus would); h2load drives each in turn, interleaved A B B A A B ... so drift of the
machine hits both alike. Reported: median req/s of each, the ratio, and the cost per request in
microseconds. A microbenchmark adds what the observer calls of one HTTP/2 request cost in
isolation (stream opened, request done, stream closed), with prometheus_client's in-memory values
(one process) and its multiprocess files (--workers), against the no-op observer: less noisy
than the end-to-end A/B on a busy machine. Also reachable as
`python3 benchmarks/run.py --metrics-cost [--quick]`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import h2load  # noqa: E402
from benchmarks.servers import free_port  # noqa: E402


def start(metrics_port: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [sys.executable, "-m", "greenh2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
            "--max-concurrent-streams", "1000"]
    if metrics_port is not None:
        argv += ["--metrics-bind", f"127.0.0.1:{metrics_port}"]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(argv + ["benchmarks.apps:hello"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"metrics_cost: greenh2 {argv} did not start")


def scraper(url: str, stop: threading.Event) -> None:
    """Scrape like Prometheus does (the cost of rendering is part of the price)."""
    while not stop.wait(1.0):
        try:
            urllib.request.urlopen(url, timeout=2).read()
        except OSError:
            pass


def micro_child(mode: str, n: int) -> None:
    """Print the seconds per request of the observer calls (run in a fresh interpreter: the
    prometheus_client mode is fixed when it is imported)."""
    from greenh2 import observe
    if mode == "multiprocess":
        from greenh2.ops.metrics import prepare_multiprocess
        prepare_multiprocess()
    if mode != "noop":
        from greenh2.ops.metrics import install_observer
        install_observer()

    def one_request() -> None:
        o = observe.OBSERVER
        o.stream_opened()
        o.request_done("h2", "GET", 200, 0.0004, 0, 14)
        o.stream_closed()
    one_request()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            one_request()
        best = min(best, (time.perf_counter() - t0) / n)
    print(best)


def micro(n: int) -> dict[str, float]:
    out = {}
    for mode in ("noop", "memory", "multiprocess"):
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--micro-child", mode,
                               "--micro-n", str(n)], capture_output=True, text=True, cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=REPO), check=True)
        out[mode] = float(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--micro-child", default="", help=argparse.SUPPRESS)
    p.add_argument("--micro-n", type=int, default=100000, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="1 s runs, 2 rounds (a smoke test)")
    p.add_argument("--rounds", type=int, default=None, help="A/B rounds (default 6; quick 2)")
    p.add_argument("--duration", type=float, default=None, help="h2load -D seconds (default 5)")
    args = p.parse_args(argv)
    if args.micro_child:
        micro_child(args.micro_child, args.micro_n)
        return 0
    calls = micro(20000 if args.quick else 200000)
    rounds = args.rounds or (2 if args.quick else 6)
    duration = args.duration or (1.0 if args.quick else 5.0)
    metrics_port = free_port()
    plain, plain_url = start(None)
    measured, measured_url = start(metrics_port)
    stop = threading.Event()
    threading.Thread(target=scraper, args=(f"http://127.0.0.1:{metrics_port}/metrics", stop),
                     daemon=True).start()
    results: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for i in range(rounds):
            order = [("off", plain_url), ("on", measured_url)]
            for name, url in order if i % 2 == 0 else order[::-1]:
                r = h2load.run(url + "/", clients=4, streams=10, duration=duration,
                               warmup=0 if args.quick else 1)
                if not r.ok or r.errors:
                    raise SystemExit(f"metrics_cost: h2load failed on {name}: {r.error}")
                results[name].append(r.req_per_s)
                print(f"round {i + 1}/{rounds} metrics {name:3s}: {r.req_per_s:10,.0f} req/s",
                      flush=True)
    finally:
        stop.set()
        for proc in (plain, measured):
            proc.terminate()
            proc.wait(30)
    off, on = statistics.median(results["off"]), statistics.median(results["on"])
    cost_us = (1 / on - 1 / off) * 1e6
    print()
    print("| h2c hello, 4 connections x 10 streams | req/s (median) |")
    print("|---|---|")
    print(f"| without --metrics-bind | {off:,.0f} |")
    print(f"| with --metrics-bind (scraped every 1 s) | {on:,.0f} |")
    print(f"| ratio with/without | {on / off:.3f} ({(1 - on / off) * 100:+.1f}% cost) |")
    print(f"| cost per request | {cost_us:.1f} us |")
    print()
    print("| observer calls of one HTTP/2 request, in isolation | us per request |")
    print("|---|---|")
    noop = calls["noop"]
    print(f"| no-op observer (no --metrics-bind) | {noop * 1e6:.2f} |")
    for mode, label in (("memory", "prometheus_client, one process"),
                        ("multiprocess", "prometheus_client multiprocess files (--workers)")):
        extra = (calls[mode] - noop) * 1e6
        share = (calls[mode] - noop) * off * 100
        print(f"| {label} | {calls[mode] * 1e6:.2f} (+{extra:.2f}: {share:.1f}% of a request "
              f"at {off:,.0f} req/s) |")
    print(f"\n{rounds} interleaved rounds of {duration:g} s each"
          + (" (quick mode: a smoke test, not a measurement)" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
