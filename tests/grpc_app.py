"""A gRPC server written as a plain WSGI app (``grpc_app:app``, tests/ on sys.path), so grpcio
clients can be tested against greenh2 without grpcio's own server: gRPC over HTTP/2 is a POST
whose body is length-prefixed messages (1 byte compressed flag, 4 bytes big-endian length), a
200 with ``content-type: application/grpc``, and the status in the trailers
(https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).

Methods (raw bytes in, raw bytes out; no protobuf):
  /test.Echo/Echo    the request message back
  /test.Echo/Sleep   sleeps float(message) seconds, answers b"slept <s>"
"""
import struct
import time


def _messages(body):
    out = []
    while len(body) >= 5:
        _flag, size = struct.unpack(">BI", body[:5])
        out.append(body[5:5 + size])
        body = body[5 + size:]
    return out


def frame(message):
    return struct.pack(">BI", 0, len(message)) + message


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    messages = _messages(body)
    method = environ.get("PATH_INFO", "")
    status, reply = "0", b""
    if method == "/test.Echo/Echo" and messages:
        reply = messages[0]
    elif method == "/test.Echo/Sleep" and messages:
        seconds = float(messages[0])
        time.sleep(seconds)
        reply = b"slept %g" % seconds
    else:
        status = "12"  # UNIMPLEMENTED
    start_response("200 OK", [("Content-Type", "application/grpc")])
    environ["greenh2.send_trailers"]([("grpc-status", status)])
    return [frame(reply)] if status == "0" else []
