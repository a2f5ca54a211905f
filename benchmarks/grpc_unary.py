"""gRPC unary calls/s with grpcio clients (issue 17): examples/grpc's connect-python service on
greenh2 (one process, h2c) beside grpcio's own `grpc.server` thread-pool server, the server
gRPC users would run instead. Reports each server's calls/s (median of the repetitions, which
are interleaved) and greenh2's ratio to grpcio's server (issue 17's target: >= 1).

    python -m benchmarks.grpc_unary                      # 3 reps x 10 s, 2 client processes
    python -m benchmarks.grpc_unary --seconds 3 --reps 1  # smoke run

Load: `--clients` processes, each with `--threads` threads sharing one channel, each thread
keeping `--in-flight` unary `Say` calls (100-byte payload) in flight. Runs in this interpreter
(grpcio, connect-python and protobuf are in setup.cfg's test extra), not in benchmarks/.venv.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS = {
    "greenh2": lambda port: [sys.executable, "-m", "greenh2", "-b", "127.0.0.1:%d" % port,
                             "--log-level", "warning", "examples.grpc.app:app"],
    "grpcio": lambda port: [sys.executable, "-m", "benchmarks.grpc_ref_server", str(port)],
}


def _client(port: int, threads: int, in_flight: int, seconds: float, out: "multiprocessing.Queue") -> None:
    import grpc

    from examples.grpc import echo_pb2 as pb
    from examples.grpc import echo_pb2_grpc as pb_grpc
    chan = grpc.insecure_channel("127.0.0.1:%d" % port, options=[("grpc.enable_http_proxy", 0)])
    stub = pb_grpc.EchoServiceStub(chan)
    stub.Say(pb.Msg(text="warm-up"), timeout=10)
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    msg = pb.Msg(text="bench", payload=b"x" * 100)

    def worker() -> None:
        ok = errors = 0
        while time.monotonic() < stop_at:
            calls = [stub.Say.future(msg, timeout=10) for _ in range(in_flight)]
            for call in calls:
                try:
                    call.result()
                    ok += 1
                except grpc.RpcError:
                    errors += 1
        with lock:
            counts["ok"] += ok
            counts["errors"] += errors

    start = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    counts["elapsed"] = time.monotonic() - start
    chan.close()
    out.put(counts)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    import grpc
    deadline = time.monotonic() + timeout
    chan = grpc.insecure_channel("127.0.0.1:%d" % port, options=[("grpc.enable_http_proxy", 0)])
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited with %s" % proc.returncode)
            try:
                grpc.channel_ready_future(chan).result(timeout=1)
                return
            except grpc.FutureTimeoutError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server not ready in %.0f s" % timeout) from None
    finally:
        chan.close()


def run_one(name: str, args: argparse.Namespace) -> dict:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen(SERVERS[name](port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_ready(port, proc)
        out: multiprocessing.Queue = multiprocessing.Queue()
        clients = [multiprocessing.Process(target=_client, args=(port, args.threads, args.in_flight,
                                                                 args.seconds, out))
                   for _ in range(args.clients)]
        for c in clients:
            c.start()
        results = [out.get(timeout=args.seconds + 60) for _ in clients]
        for c in clients:
            c.join()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ok = sum(r["ok"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    return {"server": name, "calls_per_s": ok / elapsed, "ok": ok,
            "errors": sum(r["errors"] for r in results), "elapsed": elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per client process")
    parser.add_argument("--in-flight", type=int, default=8, help="calls in flight per thread")
    parser.add_argument("--json", default="", help="write the runs to this file")
    args = parser.parse_args(argv)
    runs: list[dict] = []
    for rep in range(args.reps):
        for name in SERVERS:  # interleaved, so a slow-down of the machine hits both alike
            r = run_one(name, args)
            runs.append(r)
            print("rep %d %-8s %8.0f calls/s  (%d ok, %d errors)"
                  % (rep + 1, name, r["calls_per_s"], r["ok"], r["errors"]), flush=True)
    med = {name: statistics.median(r["calls_per_s"] for r in runs if r["server"] == name)
           for name in SERVERS}
    errors = {name: sum(r["errors"] for r in runs if r["server"] == name) for name in SERVERS}
    print("\n| server | unary calls/s (median) | errors |\n|---|---|---|")
    for name in SERVERS:
        print("| %s | %.0f | %d |" % (name, med[name], errors[name]))
    ratio = med["greenh2"] / med["grpcio"] if med["grpcio"] else float("nan")
    print("\ngreenh2 + connect-python / grpcio grpc.server: %.2f (target >= 1)" % ratio)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "median": med, "ratio": ratio, "args": vars(args)}, f, indent=1)
    return 0 if not any(errors.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
