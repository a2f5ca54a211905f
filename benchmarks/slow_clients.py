"""Issue 16 part 2, measured: slowhttptest's slowloris (-H), slow body (-B) and slow read (-X)
at 2000 connections for 40 s each, over HTTP/1.1 and TLS, against one greenh2 process at its
defaults, with a canary curl every 0.5 s (3 s limit). Prints the canary's answered share.

Run once, by hand (minutes of load; not part of the suite):
    python3 benchmarks/slow_clients.py [--connections 2000] [--length 40] [--rate 200]
The bounded version runs in the suite: tests/attacks/test_slowhttptest.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
sys.path.insert(0, TESTS)

from support.certs import make_self_signed  # noqa: E402
from support.server import ServerProcess  # noqa: E402
from support.slowhttp import MODES, run_attack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--transports", default="http,https")
    parser.add_argument("server_args", nargs="*", help="extra greenh2 options")
    args = parser.parse_args()
    certs = make_self_signed(tempfile.mkdtemp(prefix="greenh2-slow-"))
    rows = []
    for transport in args.transports.split(","):
        extra = ["--certfile", certs.certfile, "--keyfile", certs.keyfile] if transport == "https" else []
        for mode in args.modes.split(","):
            with ServerProcess(extra + list(args.server_args) + ["apps:app"]) as srv:
                base = f"{transport}://127.0.0.1:{srv.port}"
                canary = run_attack(mode, base, args.connections, args.rate, args.length)
                alive = srv.alive()
            rows.append((transport, mode, canary.ok, canary.sent, alive))
            print(f"{transport:5} {mode:9} canary {canary.ok:3}/{canary.sent:3} "
                  f"({100 * canary.ratio:5.1f} %) server {'alive' if alive else 'DIED'}",
                  flush=True)


if __name__ == "__main__":
    main()
