"""HTTP/1.1 protocol handling (raw sockets)."""
import hashlib
import json
import time

import pytest
from apps import download_chunks
from support import http1

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("tls", [False, True])
def test_keep_alive_two_requests_one_socket(server_alive, tls):
    port = server_alive.tls_port if tls else server_alive.plain_port
    sock = http1.connect(port, tls=tls)
    reader = http1.Reader(sock)
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    r1 = http1.read_response(reader)
    assert r1.status == 200 and r1.body == b"Hello, world!\n"
    assert (r1.header("connection") or "").lower() != "close", r1.headers
    assert not reader.at_eof(0.3), "server closed a keep-alive connection"
    sock.sendall(b"GET /environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r2 = http1.read_response(reader)
    assert r2.status == 200
    assert json.loads(r2.body)["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert reader.at_eof(3), "server did not close after Connection: close"
    sock.close()


def test_chunked_request_body(server_alive):
    body = b"".join(download_chunks(200000))
    sizes = [1, 100, 4096, 65536, 70000]
    parts, off = [], 0
    for s in sizes:
        parts.append(body[off:off + s])
        off += s
    parts.append(body[off:])
    raw = b"POST /sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    for p in parts:
        raw += b"%x\r\n" % len(p) + p + b"\r\n"
    raw += b"0\r\n\r\n"
    resp, _, sock = http1.request(server_alive.plain_port, raw)
    sock.close()
    assert resp.status == 200, resp
    assert json.loads(resp.body) == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def test_chunked_request_then_next_request(server_alive):
    """After a chunked body (with trailer), the next request on the socket parses cleanly."""
    sock = http1.connect(server_alive.plain_port)
    reader = http1.Reader(sock)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n"
                 b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r1 = http1.read_response(reader)
    r2 = http1.read_response(reader)
    sock.close()
    assert r1.status == 200 and r1.body == b"abcdefg", r1
    assert r2.status == 200 and r2.body == b"Hello, world!\n", r2


def test_chunked_response(server_alive):
    n = 200000
    resp = http1.simple(server_alive.plain_port, "GET", "/download?nolen=1&n=%d" % n)
    assert resp.status == 200
    assert resp.header("transfer-encoding") == "chunked", resp.headers
    assert resp.header("content-length") is None
    assert resp.body == b"".join(download_chunks(n))


def test_pipelining_in_order(server_alive):
    sock = http1.connect(server_alive.plain_port)
    reader = http1.Reader(sock)
    sock.sendall(b"GET /sleep?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nping")
    r1 = http1.read_response(reader)
    r2 = http1.read_response(reader)
    r3 = http1.read_response(reader)
    assert reader.at_eof(3)
    sock.close()
    assert r1.status == 200 and r1.body.startswith(b"slept "), r1
    assert r2.status == 200 and r2.body == b"Hello, world!\n", r2
    assert r3.status == 200 and r3.body == b"ping", r3


def test_expect_100_continue(server_alive):
    body = b"x" * 10000
    sock = http1.connect(server_alive.plain_port)
    reader = http1.Reader(sock)
    sock.sendall(b"POST /sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                 b"Expect: 100-continue\r\nConnection: close\r\n\r\n" % len(body))
    sock.settimeout(3)
    line = reader.readline()
    assert line.startswith(b"HTTP/1.1 100"), line
    assert reader.readline() == b"\r\n"
    sock.settimeout(10)
    sock.sendall(body)
    resp = http1.read_response(reader)
    sock.close()
    assert resp.status == 200
    assert json.loads(resp.body) == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def test_http10_gets_response_and_close(server_alive):
    sock = http1.connect(server_alive.plain_port)
    reader = http1.Reader(sock)
    sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
    resp = http1.read_response(reader)
    assert resp.status == 200 and resp.body == b"Hello, world!\n", resp
    assert resp.header("transfer-encoding") is None
    assert reader.at_eof(3), "HTTP/1.0 connection not closed"
    sock.close()


def test_http10_streamed_response_without_length(server_alive):
    n = 100000
    sock = http1.connect(server_alive.plain_port)
    sock.sendall(b"GET /download?nolen=1&n=%d HTTP/1.0\r\n\r\n" % n)
    reader = http1.Reader(sock)
    resp = http1.read_response(reader)
    sock.close()
    assert resp.status == 200
    assert resp.header("transfer-encoding") is None, "chunked is not HTTP/1.0"
    assert resp.body == b"".join(download_chunks(n))


def test_error_before_headers_500_h1(server_alive):
    resp = http1.simple(server_alive.plain_port, "GET", "/error-before")
    assert resp.status == 500
    assert b"boom" not in resp.body


def test_error_after_headers_closes_connection_h1(server_alive):
    sock = http1.connect(server_alive.plain_port)
    reader = http1.Reader(sock)
    sock.sendall(b"GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
    version, status, reason, headers = http1.read_head(reader)
    assert status == 200
    t0 = time.monotonic()
    rest = reader.read_to_eof()
    assert time.monotonic() - t0 < 5
    sock.close()
    # the body must not look complete: no chunked terminator after the first chunk
    assert b"first chunk" in rest
    assert not rest.endswith(b"0\r\n\r\n"), rest


def test_bad_request_line_400(server_alive):
    resp, reader, sock = http1.request(server_alive.plain_port, b"NONSENSE\r\n\r\n")
    sock.close()
    assert resp.status == 400, resp
