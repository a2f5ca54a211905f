"""Slow clients against the minimum data rates and the connection cap (issue 16, part 2):
raw HTTP/2 slow readers with a tiny window, slow request bodies, SETTINGS-only connections
filling worker_connections, and the legitimate slow cases that must not be hurt (a response
the app itself produces slowly, an upload at an honest pace)."""
from __future__ import annotations

import socket
import time

import pytest
from conformance.rawh2 import GOAWAY, RST_STREAM, RawH2, data_frame, window_update
from h2.errors import ErrorCodes
from support.wait import wait_stderr

GRACE = ["--min-rate-grace", "1"]
INITIAL_WINDOW_SIZE = 4


def test_h2_tiny_window_slow_reader_is_reset(attack_server, good_client):
    """SETTINGS_INITIAL_WINDOW_SIZE 16 and 16 more bytes every 0.2 s (80 B/s, under 240):
    each wait is short (send_timeout never fires) but the rate does, after the 1 s grace."""
    srv = attack_server(GRACE)
    good = good_client(srv.port)
    with RawH2(srv.port, settings={INITIAL_WINDOW_SIZE: 16}, auto_window=False) as c:
        c.send(window_update(0, 1 << 24))
        c.get(1, "/download?n=1048576")
        t0 = time.monotonic()
        reset = None
        while time.monotonic() - t0 < 10 and reset is None:
            c.send(window_update(1, 16))
            reset = c.read_until(lambda f: f.type == RST_STREAM and f.stream_id == 1, timeout=0.2)
        assert reset is not None, "a 80 B/s reader was never reset"
        assert reset.error_code == ErrorCodes.CANCEL
        assert time.monotonic() - t0 < 6
        assert len(c.responses[1].body) < 4096
        c.get(3)  # the connection itself lives on
        assert c.response(3).status == 200
    good.stop()
    good.check()


def test_h2_tiny_window_read_at_a_fair_pace_completes(attack_server):
    """The same tiny window, opened 4 KiB at a time as fast as the client reads: not slow."""
    srv = attack_server(GRACE)
    with RawH2(srv.port, settings={INITIAL_WINDOW_SIZE: 16}, auto_window=False) as c:
        c.send(window_update(0, 1 << 24))
        c.get(1, "/download?n=200000")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20:
            resp = c.responses.get(1)
            if resp is not None and (resp.ended or resp.reset is not None):
                break
            c.send(window_update(1, 4096))
            c.read_until(lambda f: f.type == RST_STREAM or (f.type == 0 and f.stream_id == 1),
                         timeout=0.5)
        resp = c.responses[1]
        assert resp.ended and resp.reset is None and len(resp.body) == 200000


def test_slow_app_stream_is_not_a_slow_reader(attack_server):
    """A response the app produces slowly (an SSE-like stream: 10 chunks 0.4 s apart, longer
    than the grace) never waits for the client, so no rate applies, on both protocols."""
    srv = attack_server(GRACE)
    path = "/slow-stream?n=10&delay=0.4&size=64"
    with RawH2(srv.port) as c:
        c.get(1, path)
        resp = c.response(1, timeout=10)
        assert resp.ended and resp.reset is None and len(resp.body) == 640
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        got = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += data
        assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"0\r\n\r\n"), got[-200:]
    finally:
        s.close()


def test_h2_slow_request_body_is_reset(attack_server, good_client):
    """10 bytes of body every 0.3 s (33 B/s): under min_request_rate after the grace, so the
    stream is reset long before body_timeout (2 s per wait, never reached)."""
    srv = attack_server(GRACE)
    good = good_client(srv.port)
    with RawH2(srv.port) as c:
        c.send(c.headers_frame(1, c.request_headers("/sha256", "POST",
                                                    [("content-length", "100000")]),
                               end_stream=False))
        t0 = time.monotonic()
        reset = None
        while time.monotonic() - t0 < 10 and reset is None:
            c.send(data_frame(1, b"x" * 10))
            reset = c.read_until(lambda f: f.type == RST_STREAM and f.stream_id == 1, timeout=0.3)
        assert reset is not None and reset.error_code == ErrorCodes.CANCEL
        assert time.monotonic() - t0 < 6
    good.stop()
    good.check()


def test_http1_upload_at_an_honest_pace_completes(attack_server):
    """64 KiB in 8 KiB pieces every 0.2 s (40 KiB/s) for longer than the grace: served."""
    srv = attack_server(GRACE)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"POST /sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n")
        for _ in range(8):
            time.sleep(0.2)
            s.sendall(b"y" * 8192)
        got = b""
        while b'"bytes": 65536' not in got:
            data = s.recv(65536)
            assert data, got
            got += data
        assert got.startswith(b"HTTP/1.1 200")
    finally:
        s.close()


def test_settings_only_connections_are_shed_at_the_cap(attack_server, good_client):
    """worker_connections 40 filled by HTTP/2 connections that sent the preface and SETTINGS
    and nothing more: new connections are admitted by shedding the oldest of them (GOAWAY),
    so an honest client is served at once instead of waiting for keepalive (3 s here)."""
    srv = attack_server(["--worker-connections", "40"])
    idle = [RawH2(srv.port) for _ in range(40)]
    try:
        time.sleep(1.2)  # older than HEAD_MIN_AGE: first in line
        t0 = time.monotonic()
        good = good_client(srv.port)
        good.stop(min_ok=20)
        good.check(minimum=20)
        assert time.monotonic() - t0 < 2.5  # before keepalive would have freed anything
        goaways = sum(1 for c in idle
                      if c.read_until(lambda f: f.type == GOAWAY, timeout=0.5) is not None)
        assert goaways >= 1
        assert "(headers) to admit a new one at worker_connections=40" in srv.stderr_text()
    finally:
        for c in idle:
            c.close()


def test_preface_only_connections_are_shed_at_the_cap(attack_server, good_client):
    """Half a preface each (a slowloris on the HTTP/2 door) at the cap of 40."""
    srv = attack_server(["--worker-connections", "40", "--handshake-timeout", "30"])
    socks = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(40)]
    try:
        for s in socks:
            s.sendall(b"PRI * HTTP/2.0\r\n")
        time.sleep(1.2)
        good = good_client(srv.port)
        good.stop(min_ok=20)
        good.check(minimum=20)
        assert "shedding connection from" in srv.stderr_text()
    finally:
        for s in socks:
            s.close()


def _slow_upload(port: int, path: str) -> tuple[bytes, float, bool]:
    """POST `path` with Content-Length 100000, 10 bytes every 0.3 s (33 B/s): returns what the
    server answered, how long it took and whether the server then closed the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode())
        t0, got = time.monotonic(), b""
        s.settimeout(0.3)
        while b"\r\n\r\n" not in got and time.monotonic() - t0 < 10:
            try:
                s.sendall(b"x" * 10)
                data = s.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            got += data
        elapsed = time.monotonic() - t0
        s.settimeout(5)
        while True:  # the rest of the answer, then the server's close (b"")
            try:
                data = s.recv(65536)
            except OSError:  # reset: the server closed with our unread bytes in its buffer
                return got, elapsed, True
            if not data:
                return got, elapsed, True
            got += data
    finally:
        s.close()


@pytest.mark.parametrize("path", ["/read", "/flask/read"])
def test_http1_slow_request_body_gets_408_and_close(attack_server, good_client, path):
    """RFC 9110 §15.5.9: below min_request_rate after the grace, a request whose response has
    not started is answered 408 Request Timeout and the connection closes (Kestrel's answer to
    MinRequestBodyDataRate); a Flask app answers it through werkzeug's RequestTimeout."""
    srv = attack_server(GRACE, app="bodycap_app:app")
    good = good_client(srv.port)
    got, elapsed, closed = _slow_upload(srv.port, path)
    head = got.split(b"\r\n\r\n", 1)[0].lower()
    assert got.startswith(b"HTTP/1.1 408 "), got[:300]
    assert b"connection: close" in head, got[:300]
    assert closed and elapsed < 6, (elapsed, got[:300])
    wait_stderr(srv, "below min_request_rate", timeout=10)
    good.stop()
    good.check()
