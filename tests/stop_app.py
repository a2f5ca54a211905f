"""WSGI app for the graceful-stop client tests (``stop_app:app``, tests/ on sys.path).

It speaks gRPC by hand, so grpcio clients can be tested against greenh2 without grpcio's own
server: gRPC over HTTP/2 is a POST whose body is length-prefixed messages (1 byte compressed
flag, 4 bytes big-endian length), answered 200 with ``content-type: application/grpc`` and the
status in the trailers (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).

  /test.Echo/Echo    gRPC: the request message back (raw bytes, no protobuf)
  /test.Echo/Sleep   gRPC: sleeps float(message) seconds, answers b"slept <s>"
  /test.Echo/Hold    gRPC: like /hold, the message is the gate path; answers b"released"
  /sleep?s=S         plain HTTP: sleeps S seconds, answers "slept S"
  /hold?gate=PATH    plain HTTP: waits until the file PATH exists (at most 30 s), answers
                     "released": a test holds requests in flight for as long as it needs, even
                     on a machine so loaded that a fixed sleep could end before it looks
  /inflight          how many sleeps are running now (tests wait for it instead of sleeping)
"""
import os
import struct
import threading
import time
from urllib.parse import parse_qs

_lock = threading.Lock()
_inflight = [0]


def _messages(body):
    out = []
    while len(body) >= 5:
        _flag, size = struct.unpack(">BI", body[:5])
        out.append(body[5:5 + size])
        body = body[5 + size:]
    return out


def frame(message):
    """One gRPC length-prefixed message."""
    return struct.pack(">BI", 0, len(message)) + message


def _sleep(seconds):
    with _lock:
        _inflight[0] += 1
    try:
        time.sleep(seconds)
    finally:
        with _lock:
            _inflight[0] -= 1
    return b"slept %g" % seconds


def _hold(gate):
    with _lock:
        _inflight[0] += 1
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        with _lock:
            _inflight[0] -= 1
    return b"released"


def _grpc(environ, start_response, method):
    messages = _messages(environ["wsgi.input"].read())
    status, reply = "0", b""
    if method == "Echo" and messages:
        reply = messages[0]
    elif method == "Sleep" and messages:
        reply = _sleep(float(messages[0]))
    elif method == "Hold" and messages:
        reply = _hold(messages[0].decode())
    else:
        status = "12"  # UNIMPLEMENTED
    start_response("200 OK", [("Content-Type", "application/grpc")])
    environ["greenh2.send_trailers"]([("grpc-status", status)])
    return [frame(reply)] if status == "0" else []


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/test.Echo/"):
        return _grpc(environ, start_response, path.rsplit("/", 1)[1])
    if path == "/sleep":
        seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["1"])[0])
        body = _sleep(seconds)
    elif path == "/hold":
        body = _hold(parse_qs(environ.get("QUERY_STRING", ""))["gate"][0])
    elif path == "/inflight":
        with _lock:
            body = b"%d" % _inflight[0]
    else:
        body = b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
