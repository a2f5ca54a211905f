"""The sans-IO ceiling: how many hello requests/s the `h2` library itself allows on one core.

Why this module exists: greenh2 is built on the sans-IO `h2` state machine, so no greenh2
configuration can serve more HTTP/2 requests per second than a loop that only runs `h2`
(no sockets, no TLS, no greenlets, no WSGI). This drives an in-memory client H2Connection and
server H2Connection through M1's mix: batches of 10 concurrent GET streams (h2load -m 10),
the client sends HEADERS with END_STREAM, the server gets RequestReceived and answers with
response HEADERS + 13-byte DATA with END_STREAM, the client parses the response and returns
flow-control credit. Both sides share the one core; the time spent in the server connection
alone is measured too (server_req_per_s), the tighter bound for a server. Every report shows
greenh2's M1/M2 as a percentage of both.

Run alone: python -m benchmarks.ceiling --seconds 2
"""
from __future__ import annotations

import argparse
import json
import time
from time import perf_counter

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, StreamEnded

HELLO = b"Hello, world!"
REQUEST = [(":method", "GET"), (":path", "/"), (":scheme", "https"),
           (":authority", "127.0.0.1:8443"), ("user-agent", "h2load nghttp2/1.52.0"),
           ("accept", "*/*")]
RESPONSE = [(":status", "200"), ("content-type", "text/plain"), ("content-length", "13")]


def _pair() -> tuple:
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    server = H2Connection(H2Configuration(client_side=False, header_encoding=None))
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())  # SETTINGS ACK
    return client, server


def _batch(client: H2Connection, server: H2Connection, streams: int, clock: list) -> int:
    """Run `streams` concurrent requests to completion; returns how many responses ended.

    clock[0] accumulates the seconds spent in server-side calls only.
    """
    for _ in range(streams):
        client.send_headers(client.get_next_available_stream_id(), REQUEST, end_stream=True)
    wire = client.data_to_send()
    t = perf_counter()
    for event in server.receive_data(wire):
        if isinstance(event, RequestReceived):
            server.send_headers(event.stream_id, RESPONSE)
            server.send_data(event.stream_id, HELLO, end_stream=True)
    wire = server.data_to_send()
    clock[0] += perf_counter() - t
    done = 0
    for event in client.receive_data(wire):
        if isinstance(event, DataReceived):
            client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, StreamEnded):
            done += 1
    pending = client.data_to_send()  # WINDOW_UPDATEs
    if pending:
        t = perf_counter()
        server.receive_data(pending)
        clock[0] += perf_counter() - t
    return done


def measure(seconds: float = 2.0, streams: int = 10) -> dict:
    """Requests/s through the in-memory pair for about `seconds` (after a short warm-up).

    req_per_s is the client+server pair on one core (the ceiling as issue 5 defines it);
    server_req_per_s counts only the time spent in the server connection's calls, i.e. what a
    server built on `h2` could reach if sockets, TLS, greenlets and WSGI cost nothing.
    """
    client, server = _pair()
    clock = [0.0]
    for _ in range(50):
        _batch(client, server, streams, clock)
    done, clock[0], t0 = 0, 0.0, perf_counter()
    cpu0 = time.process_time()
    while True:
        for _ in range(20):
            done += _batch(client, server, streams, clock)
        if client.highest_outbound_stream_id > 2**30:  # stream ids run out: new connection
            client, server = _pair()
        elapsed = perf_counter() - t0
        if elapsed >= seconds:
            break
    cpu = time.process_time() - cpu0
    return {"requests": done, "elapsed_s": round(elapsed, 3), "cpu_s": round(cpu, 3),
            "req_per_s": round(done / elapsed, 1),
            "req_per_cpu_s": round(done / cpu, 1) if cpu else None,
            "server_s": round(clock[0], 3),
            "server_req_per_s": round(done / clock[0], 1) if clock[0] else None,
            "streams_per_batch": streams}


def main() -> None:
    p = argparse.ArgumentParser(description="sans-IO h2 ceiling (hello requests/s, one core)")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--streams", type=int, default=10)
    a = p.parse_args()
    print(json.dumps(measure(a.seconds, a.streams)))


if __name__ == "__main__":
    main()
