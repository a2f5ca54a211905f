"""The WebSocket echo scenario (WS): greenh2 over HTTP/1.1 and over HTTP/2 (RFC 8441) against
gunicorn with gevent-websocket's worker, over TLS and cleartext, N concurrent clients echoing
for a fixed time; messages/s and p99 latency.

Why this module exists: WebSockets are not HTTP requests, so h2load cannot drive them and the
M scenarios' runner does not fit; this module owns the whole scenario (app, servers, load,
table) and run.py calls `run()` for the key WS. Every server runs the same gevent-websocket
style app (`app` below, on `environ['wsgi.websocket']`), one process/worker, the same
certificate; the same client (benchmarks/ws_client.py) drives both transports.

    python3 benchmarks/run.py --scenarios WS --quick
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import Any

from benchmarks.certs import CertPair

APP = "benchmarks.ws_echo:app"
EXTRA_PACKAGES = ["gevent-websocket", "wsproto"]  # in the benchmark venv, on first use
_MARKER = ".bench-ws"


def app(environ: dict, start_response: Any) -> list:
    """Echo every message (gevent-websocket's interface); a plain request gets 200 'ready'."""
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        return [b"ready\n"]
    while True:
        message = ws.receive()
        if message is None:
            break
        ws.send(message)
    return []


@dataclass(frozen=True)
class Load:
    clients: int
    seconds: float
    size: int = 32


QUICK = Load(clients=10, seconds=1.0)
FULL = Load(clients=50, seconds=3.0)


def _gunicorn_gws(_app: str, port: int, cert: CertPair | None) -> list:
    bindir = os.path.dirname(sys.executable)
    argv = [os.path.join(bindir, "gunicorn"), "-k",
            "geventwebsocket.gunicorn.workers.GeventWebSocketWorker", "-w", "1",
            "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--worker-connections", "20000"]
    if cert:
        argv += ["--certfile", cert.certfile, "--keyfile", cert.keyfile]
    return argv + [APP]


def _greenh2(_app: str, port: int, cert: CertPair | None) -> list:
    argv = [sys.executable, "-m", "greenh2", "-b", f"127.0.0.1:{port}", "--workers", "1",
            "--log-level", "warning"]
    if cert:
        argv += ["--certfile", cert.certfile, "--keyfile", cert.keyfile]
    return argv + [APP]


# (row label, server name for --only, argv builder, client transport)
TARGETS = [
    ("greenh2, HTTP/2 (RFC 8441)", "greenh2", _greenh2, "h2"),
    ("greenh2, HTTP/1.1", "greenh2", _greenh2, "h1"),
    ("gunicorn + gevent-websocket worker, HTTP/1.1 (baseline)", "gunicorn", _gunicorn_gws, "h1"),
]
# BENCH_ALT_TREE (benchmarks/servers.py): the other tree's greenh2 on both transports, after this
# checkout's rows (not interleaved per repetition), so WebSocket echo is in the nothing-slower guard.
ALT_TARGETS = [
    ("greenh2-alt, HTTP/2 (RFC 8441)", "greenh2-alt", _greenh2, "h2"),
    ("greenh2-alt, HTTP/1.1", "greenh2-alt", _greenh2, "h1"),
]


def ensure_packages(log_dir: str) -> None:
    """gevent-websocket (the baseline's worker) and wsproto (the client) in the bench venv."""
    marker = os.path.join(sys.prefix, _MARKER)
    if os.path.exists(marker):
        return
    log = os.path.join(log_dir, "pip-ws.log")
    with open(log, "wb") as out:
        rc = subprocess.call([sys.executable, "-m", "pip", "install", "-q",
                              "--disable-pip-version-check", *EXTRA_PACKAGES],
                             stdout=out, stderr=subprocess.STDOUT)
    if rc:
        raise RuntimeError(f"pip install {' '.join(EXTRA_PACKAGES)} failed, see {log}")
    open(marker, "w").close()


def _ready(url: str) -> str | None:
    import ssl
    ctx = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:
            return None if resp.status == 200 else f"status {resp.status}"
    except OSError as exc:
        return str(exc)


def _measure(url: str, transport: str, load: Load) -> dict:
    ws_url = url.replace("https://", "wss://").replace("http://", "ws://") + "/"
    argv = [sys.executable, "-m", "benchmarks.ws_client", ws_url, "--transport", transport,
            "--clients", str(load.clients), "--seconds", str(load.seconds),
            "--size", str(load.size)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=load.seconds + 60)
        return json.loads(proc.stdout)
    except (subprocess.TimeoutExpired, ValueError) as exc:
        return {"msg_per_s": None, "p99_ms": None, "failed_clients": load.clients,
                "errors_seen": [f"ws_client: {exc}"]}


def run(quick: bool, reps: int, names: list, cert: CertPair, log_dir: str) -> tuple:
    """Run the WS scenario over TLS and cleartext; (markdown table, results per row)."""
    ensure_packages(log_dir)
    load = QUICK if quick else FULL
    results: dict = {}
    from benchmarks.servers import ALT_TREE
    targets = TARGETS + (ALT_TARGETS if ALT_TREE else [])
    for security, pair in (("TLS", cert), ("cleartext", None)):
        for label, server, argv, transport in targets:
            if server in names:
                key = f"{label}, {security}"
                log = os.path.join(log_dir, f"WS-{server}-{transport}-{security}.log")
                results[key] = _run_target(key, server, argv, transport, pair, log, load, reps)
    return table(results, load), results


def _run_target(key: str, server: str, argv: Any, transport: str, cert: CertPair | None,
                log: str, load: Load, reps: int) -> dict:
    from benchmarks import servers

    known = servers.SERVERS.get(server)  # greenh2-alt: its tree and package from servers.py
    definition = servers.ServerDef(server, key, argv, known.package if known else server,
                                   tree=known.tree if known else "")
    try:
        running = servers.start(definition, "ws", cert, log, ready_check=_ready)
    except servers.ServerError as exc:
        print(f"  WS {key}: START FAILED; log: {log}", flush=True)
        return {"error": f"start failed: {str(exc).splitlines()[0]}"}
    assert running is not None
    runs = []
    try:
        for rep in range(reps):
            with servers.RssSampler(running.proc.pid) as sampler:
                rec = _measure(running.url, transport, load)
            rec["rss_mib"] = sampler.peak / 2**20
            runs.append(rec)
            print(f"  WS rep {rep + 1}/{reps} {key}: {rec.get('msg_per_s') or 0:,.0f} msg/s"
                  f"  p99 {rec.get('p99_ms') or 0:.1f} ms  failed clients "
                  f"{rec.get('failed_clients')}  {'; '.join(rec.get('errors_seen', []))[:160]}",
                  flush=True)
    finally:
        running.stop()
    return _summary(runs)


def _summary(runs: list) -> dict:
    rates = [r["msg_per_s"] for r in runs if r.get("msg_per_s")]
    p99s = [r["p99_ms"] for r in runs if r.get("p99_ms") is not None]
    return {"msg_per_s": statistics.median(rates) if rates else None,
            "p99_ms": statistics.median(p99s) if p99s else None,
            "failed_clients": sum(r.get("failed_clients", 0) for r in runs),
            "rss_mib": max((r.get("rss_mib", 0) for r in runs), default=0),
            "errors": sorted({e for r in runs for e in r.get("errors_seen", [])})[:3]}


def table(results: dict, load: Load) -> str:
    lines = [f"**WS** WebSocket echo: {load.clients} clients, one connection each, "
             f"{load.size}-byte text messages, closed loop for {load.seconds:g} s (medians)", "",
             "| server | messages/s | p99 latency | failed clients | peak RSS |",
             "|---|---|---|---|---|"]
    for label, row in results.items():
        if row.get("error"):
            lines.append(f"| {label} | ERROR: {row['error']} | | | |")
            continue
        rate, p99 = row.get("msg_per_s"), row.get("p99_ms")
        lines.append(f"| {label} | {rate or 0:,.0f} | {p99 or 0:.1f} ms | "
                     f"{row['failed_clients']} | {row['rss_mib']:.0f} MiB |")
    return "\n".join(lines) + "\n"
