"""Slowloris: clients that hold a connection open by sending too slowly, or nothing.
Server options under test: --handshake-timeout (TLS handshake + preface / first HTTP/1.1 head,
one deadline), --body-timeout (per-stream request body), --keepalive (idle connections)."""
from __future__ import annotations

import socket
import time

from conformance.rawh2 import GOAWAY, PREFACE, RawH2, data_frame
from h2.errors import ErrorCodes

# attack servers run with --handshake-timeout 1 --body-timeout 2 --keepalive 3 (conftest.FAST)


def _closed_after(sock: socket.socket, limit: float, drip: bytes = b"", every: float = 0.2) -> float:
    """Seconds until the server closes `sock`, sending one byte of `drip` every `every` seconds
    meanwhile; fails if it is still open after `limit` seconds."""
    t0 = time.monotonic()
    sock.setblocking(True)
    pos = 0
    while time.monotonic() - t0 < limit:
        if pos < len(drip):
            try:
                sock.sendall(drip[pos:pos + 1])
            except OSError:
                return time.monotonic() - t0
            pos += 1
        sock.settimeout(every)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0
    raise AssertionError(f"connection still open after {limit}s")


def test_tls_handshake_never_started(attack_server, good_client, certs):
    srv = attack_server(["--certfile", certs.certfile, "--keyfile", certs.keyfile])
    good = good_client(srv.port, tls=True)
    socks = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(30)]
    try:
        for s in socks[:15]:
            s.sendall(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello that never completes
        elapsed = [_closed_after(s, 5) for s in socks]
        assert max(elapsed) < 4, elapsed
    finally:
        for s in socks:
            s.close()
    good.stop()
    good.check()


def test_h2_preface_dribbled(attack_server, good_client):
    """The preface sent one byte every 0.2 s: the one deadline (1 s) is not extended."""
    srv = attack_server()
    good = good_client(srv.port)
    s = socket.create_connection(("127.0.0.1", srv.port))
    try:
        elapsed = _closed_after(s, 5, drip=PREFACE, every=0.2)
        assert 0.8 < elapsed < 2.5, elapsed
    finally:
        s.close()
    good.stop()
    good.check()


def test_http1_head_dribbled(attack_server, good_client):
    srv = attack_server()
    good = good_client(srv.port)
    s = socket.create_connection(("127.0.0.1", srv.port))
    try:
        head = b"GET /hello HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100
        elapsed = _closed_after(s, 5, drip=head, every=0.15)
        assert 0.8 < elapsed < 2.5, elapsed
    finally:
        s.close()
    good.stop()
    good.check()


def test_later_http1_head_dribbled(attack_server):
    """After a first request, the next head also has a deadline from its first byte."""
    srv = attack_server()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"Hello, world!" not in got:
            got += s.recv(65536)
        elapsed = _closed_after(s, 6, drip=b"GET /hello HTTP/1.1\r\nX-Slow: " + b"a" * 100,
                                every=0.15)
        assert elapsed < 3, elapsed
    finally:
        s.close()


def test_h2_request_body_stalled(attack_server, good_client):
    """--body-timeout: a handler waiting for body that never comes gives up and the stream is
    reset (CANCEL); the connection and other streams carry on."""
    srv = attack_server()
    good = good_client(srv.port)
    with RawH2(srv.port) as c:
        c.send(c.headers_frame(1, c.request_headers("/sha256", "POST", [("content-length", "100")]),
                               end_stream=False), data_frame(1, b"x" * 10))
        t0 = time.monotonic()
        f = c.expect_stream_error(1, ErrorCodes.CANCEL, timeout=6)
        assert f.type == 3
        assert 1.5 < time.monotonic() - t0 < 4.5
        c.get(3)
        assert c.response(3).status == 200
    good.stop()
    good.check()


def test_http1_request_body_stalled(attack_server):
    srv = attack_server()
    s = socket.create_connection(("127.0.0.1", srv.port))
    try:
        s.sendall(b"POST /sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        elapsed = _closed_after(s, 8)
        assert elapsed < 6, elapsed
    finally:
        s.close()


def test_h2_idle_connection_closed(attack_server):
    """--keepalive 3: an idle HTTP/2 connection is closed (GOAWAY first) after ~3 s."""
    srv = attack_server()
    with RawH2(srv.port) as c:
        c.get(1)
        assert c.response(1).status == 200
        t0 = time.monotonic()
        f = c.read_until(lambda fr: fr.type == GOAWAY, timeout=8)
        assert f is not None and f.error_code == ErrorCodes.NO_ERROR, c.received
        c.expect_closed(timeout=3)
        assert 2 < time.monotonic() - t0 < 6


def test_http1_idle_connection_closed(attack_server):
    srv = attack_server()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"Hello, world!" not in got:
            got += s.recv(65536)
        elapsed = _closed_after(s, 8)
        assert 2 < elapsed < 6, elapsed
    finally:
        s.close()


def test_many_slow_connections_do_not_starve_others(attack_server, good_client):
    srv = attack_server()
    good = good_client(srv.port)
    socks = []
    try:
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", srv.port))
                s.sendall(b"PRI * HTTP/2.0\r\n")
                socks.append(s)
            time.sleep(0.2)
        good.stop(min_ok=20)
        good.check(minimum=20)
        assert srv.alive()
    finally:
        for s in socks:
            s.close()
