"""greenh2's per-request CPU on one core, in process: the A/B tool for the hot path.

Why this module exists: on a shared 2-core machine req/s from h2load moves by 30 % between runs,
so a change of a few percent in greenh2's own code cannot be seen there. This drives the real
server path without sockets, TLS or the event loop: an in-memory h2 client sends M1's mix
(batches of 10 GET streams with h2load's headers), greenh2's `Engine` receives the bytes, each
request's head is taken as the session takes it, the WSGI environ is built, the `hello` app runs
through `run_app` with an `H2Stream` sink (start_response checks, response HEADERS, the one DATA
frame with END_STREAM), and the output is parsed by the client. Only the server side is timed
(like ceiling.py's server_req_per_s). It imports greenh2 from sys.path, so the same file
measures two checkouts: `PYTHONPATH=/tmp/old python -m benchmarks.engine_loop` vs the new one.

Run: python -m benchmarks.engine_loop --seconds 2     (CPU time per request)
     python -m benchmarks.engine_loop --icount 100     (instructions per request, valgrind)
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
from time import perf_counter, process_time
from typing import Any

import h2.events as ev
from h2.config import H2Configuration
from h2.connection import H2Connection

from greenh2.config import Config
from greenh2.http2 import engine as engine_mod
from greenh2.http2.stream import H2Stream
from greenh2.wsgi.environ import ConnInfo, base_environ, build_environ
from greenh2.wsgi.input_stream import InputStream
from greenh2.wsgi.response import run_app

REQUEST = [(":method", "GET"), (":path", "/"), (":scheme", "https"),
           (":authority", "127.0.0.1:8443"), ("user-agent", "h2load nghttp2/1.52.0"),
           ("accept", "*/*")]
HELLO = b"Hello, world!"
_TEXT = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]


def hello(environ: dict, start_response: Any) -> list:
    start_response("200 OK", list(_TEXT))
    return [HELLO]


class _Owner:
    """What an H2Stream needs of its session, without gevent's loop."""

    def __init__(self, engine: Any, config: Config) -> None:
        self.engine, self.config = engine, config

    def wake_writer(self) -> None:
        pass

    def wait_output_room(self) -> None:
        pass


class _Sink:
    __slots__ = ("stream",)

    def __init__(self, stream: H2Stream) -> None:
        self.stream = stream

    def start(self, status: int, reason: str, headers: list, end: bool) -> None:
        self.stream.send_headers(status, headers, end)

    def write(self, data: bytes, end: bool = False) -> None:
        self.stream.send_data(data, end)

    def finish(self) -> None:
        self.stream.end()


def _head(engine: Any, event: Any, scheme: str) -> Any:
    heads = getattr(engine, "heads", None)
    if heads is not None:  # validated and built once per block (request.py)
        head = heads.pop(event.stream_id)
        head.scheme = head.scheme or scheme
        return head
    from greenh2.http2.session import request_head  # before request.py existed
    return request_head(event.headers, scheme)


def _client() -> H2Connection:
    """An h2 client with windows so large that it never needs to read the server's output."""
    from h2.settings import SettingCodes
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    client.local_settings.initial_window_size = 2**31 - 1
    client.local_settings.header_table_size = 4096
    client.initiate_connection()
    client.increment_flow_control_window(2**31 - 1 - 65535)
    assert SettingCodes.INITIAL_WINDOW_SIZE
    return client


def make_wire(batches: int, streams: int = 10) -> list:
    """The bytes an h2load-like client sends: the preface, then `batches` bursts of `streams`
    GET requests with END_STREAM (h2load -m 10). Made once, replayed against the server."""
    client = _client()
    wires = [client.data_to_send()]
    for _ in range(batches):
        for _ in range(streams):
            client.send_headers(client.get_next_available_stream_id(), REQUEST, end_stream=True)
        wires.append(client.data_to_send())
    return wires


def serve(wires: list, clock: Any = process_time) -> tuple:
    """Run greenh2's server path over the recorded bursts; (requests answered, seconds)."""
    config = Config()
    conn = ConnInfo("127.0.0.1", "8443", "127.0.0.1", "50000", "https", "h2", "TLSv1.3")
    conn.base = base_environ(conn)
    engine = engine_mod.Engine(config)
    engine.start()
    owner = _Owner(engine, config)
    engine.receive(wires[0])
    engine.take_output()
    done, spent = 0, 0.0
    for wire in wires[1:]:
        t = clock()
        for event in engine.receive(wire):
            if type(event) is ev.RequestReceived:
                head = _head(engine, event, "https")
                stream = H2Stream(owner, event.stream_id)
                stream.ended = True
                environ = build_environ(head, conn, InputStream(stream.pull))
                run_app(hello, environ, _Sink(stream), "greenh2")  # type: ignore[arg-type]
                done += 1
        engine.take_output()
        spent += clock() - t
    return done, spent


def measure(seconds: float = 2.0, streams: int = 10) -> dict:
    """Server-side CPU per request, best of repeated passes over 200 recorded bursts."""
    wires = make_wire(200, streams)
    serve(wires[:20])  # warm-up
    best, total_done, total_s, t0 = None, 0, 0.0, perf_counter()
    while perf_counter() - t0 < seconds:
        done, spent = serve(wires)
        total_done, total_s = total_done + done, total_s + spent
        per = spent / done
        best = per if best is None or per < best else best
    return {"requests": total_done, "server_s": round(total_s, 4),
            "server_req_per_s": round(total_done / total_s, 1),
            "us_per_request": round(total_s / total_done * 1e6, 2),
            "best_us_per_request": round((best or 0) * 1e6, 2)}


_WARM = 5  # bursts served before counting (first-call imports and caches)


def _serve_file(path: str, batches: int) -> int:
    with open(path, "rb") as f:
        wires = pickle.load(f)
    done, _ = serve(wires[:batches + 1])
    return done


def instructions(batches: int = 100, streams: int = 10, python: str = sys.executable) -> dict:
    """Instructions per request (valgrind's callgrind, deterministic on a busy machine): the
    server path over `batches` recorded bursts minus the same process serving none; the client
    bytes are made beforehand in this process, so only greenh2's side is counted."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "wire.pickle")
        with open(path, "wb") as f:
            pickle.dump(make_wire(batches + _WARM, streams), f)
        counts = []
        for n in (batches + _WARM, _WARM):  # the difference: `batches` warmed-up bursts
            code = ("import sys; sys.path[:0] = %r; from benchmarks import engine_loop; "
                    "engine_loop._serve_file(%r, %d)" % (sys.path[:3], path, n))
            proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                   python, "-c", code], capture_output=True, text=True)
            found = re.search(r"Collected : (\d+)", proc.stderr)
            if proc.returncode or not found:
                raise RuntimeError(proc.stderr[-2000:])
            counts.append(int(found.group(1)))
    per = (counts[0] - counts[1]) / (batches * streams)
    return {"requests": batches * streams, "instructions_per_request": round(per)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--streams", type=int, default=10)
    p.add_argument("--icount", type=int, default=0, metavar="BURSTS", help="count instructions "
                   "per request with valgrind over this many bursts instead of timing")
    a = p.parse_args()
    if a.icount:
        print(json.dumps(instructions(a.icount, a.streams)))
        return
    print(json.dumps(measure(a.seconds, a.streams)))


if __name__ == "__main__":
    main()
