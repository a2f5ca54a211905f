"""Issue 16 part 3, measured: the socket.io burst of tests/integration/test_ws_socketio_burst.py
(waves of python-socketio clients, websocket transport, one `call("echo")` each) over wss:// and
ws:// against one greenh2 process each, interleaved, reporting wall time AND the server's own CPU
time per burst. The wall-time ratio is mostly the client's (python-socketio + websocket-client
doing TLS in Python threads on the same 2 cores); the server-CPU ratio is what TLS costs greenh2.

Run by hand (a minute or two; not part of the suite):
    python3 benchmarks/wss_burst.py [--rounds 3] [--waves 10] [--clients 40]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
sys.path.insert(0, TESTS)

from integration.test_ws_socketio_burst import _one  # noqa: E402  (the suite's client)
from support.certs import make_self_signed  # noqa: E402
from support.server import ServerProcess  # noqa: E402
from support.tls_client import serialized_context  # noqa: E402


def _cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def burst(srv: ServerProcess, scheme: str, options: dict, waves: int, clients: int) -> tuple:
    """(answered, total, wall seconds, server CPU seconds, client CPU seconds) of one burst;
    the clients are this process's threads."""
    url = f"{scheme}://127.0.0.1:{srv.port}"
    cpu0, own0, t0, ok = _cpu(srv.proc.pid), _cpu(os.getpid()), time.monotonic(), 0
    with ThreadPoolExecutor(clients) as pool:
        for wave in range(waves):
            numbers = range(wave * clients, (wave + 1) * clients)
            ok += sum(r == "ok" for r in pool.map(_one, [url] * clients, [options] * clients, numbers))
    return (ok, waves * clients, time.monotonic() - t0, _cpu(srv.proc.pid) - cpu0,
            _cpu(os.getpid()) - own0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--clients", type=int, default=40)
    args = parser.parse_args()
    certs = make_self_signed(tempfile.mkdtemp(prefix="greenh2-wss-"))
    tls = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile,
                         "socketio_app:app"], start_timeout=30).start()
    plain = ServerProcess(["socketio_app:app"], start_timeout=30).start()
    sides = {"wss": (tls, "https", {"sslopt": {"context": serialized_context(certs.certfile)}}),
             "ws": (plain, "http", {})}
    seen: dict[str, list[tuple]] = {"wss": [], "ws": []}
    try:
        for _ in range(args.rounds):  # interleaved, so both see the same machine
            for name, (srv, scheme, options) in sides.items():
                row = burst(srv, scheme, options, args.waves, args.clients)
                seen[name].append(row)
                print(f"{name}: {row[0]}/{row[1]} answered, {row[2]:.2f} s wall, "
                      f"{row[3]:.2f} s server CPU, {row[4]:.2f} s client CPU", flush=True)
    finally:
        tls.close()
        plain.close()
    wall = statistics.median(a[2] for a in seen["wss"]) / statistics.median(a[2] for a in seen["ws"])
    cpu = statistics.median(a[3] for a in seen["wss"]) / statistics.median(a[3] for a in seen["ws"])
    client = statistics.median(a[4] for a in seen["wss"]) / statistics.median(a[4] for a in seen["ws"])
    lost = sum(r[1] - r[0] for rows in seen.values() for r in rows)
    print(f"TLS / cleartext (medians of {args.rounds}): wall {wall:.2f}x, server CPU {cpu:.2f}x, "
          f"client CPU {client:.2f}x; calls lost: {lost}")


if __name__ == "__main__":
    main()
