"""Instructions per request of greenh2 under valgrind's callgrind (perfcore profile figures).

Why: on a shared 2-core machine wall-clock rates wander by tens of percent between runs, while
the instruction count of a request is repeatable to about a percent. The server runs under
callgrind; after a warm-up load its counters are zeroed (`callgrind_control -z`), h2load sends
N requests, the counters are dumped (`callgrind_control -d`) and the total Ir / N is printed.

    python3 benchmarks/profiles/ir_per_request.py [--tls] [-n 2000] [--app hello] [-- extra args]
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit("server exited during start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("server did not start")


def h2load(url: str, n: int, clients: int, streams: int) -> str:
    out = subprocess.run(["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams), url],
                         capture_output=True, text=True, timeout=900).stdout
    if f"{n} succeeded" not in out:
        raise SystemExit("h2load did not succeed:\n" + out)
    return out


def total_ir(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-c", type=int, default=1)
    ap.add_argument("-m", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--app", default="hello")
    ap.add_argument("--path", default="/")
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="greenh2-ir-")
    argv = [sys.executable, "-m", "greenh2", "-b", f"127.0.0.1:{port}", "--workers", "1"]
    scheme = "http"
    if args.tls:
        sys.path.insert(0, REPO)
        from benchmarks.certs import make_cert
        cert = make_cert(tmp)
        argv += ["--certfile", cert.certfile, "--keyfile", cert.keyfile]
        scheme = "https"
    argv += list(args.extra) + [f"benchmarks.apps:{args.app}"]
    out = os.path.join(tmp, "callgrind.out.%p")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + argv,
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        url = f"{scheme}://127.0.0.1:{port}{args.path}"
        h2load(url, args.warmup, args.c, args.m)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True,
                       capture_output=True, timeout=120)
        h2load(url, args.n, args.c, args.m)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                       capture_output=True, timeout=120)
        dumps = sorted(p for p in glob.glob(os.path.join(tmp, "callgrind.out.*"))
                       if re.search(r"\.\d+$", p))
        ir = total_ir(dumps[-1])
        print(f"{'TLS' if args.tls else 'h2c'} {args.app} {args.path} n={args.n} -c {args.c} -m {args.m}: "
              f"{ir / args.n:,.0f} instructions/request (dump {dumps[-1]})")
    finally:
        proc.terminate()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
