"""Connection floods (--worker-connections), h2c smuggling (--no-h2c-upgrade) and malformed
HTTP/1.1 requests (the right 4xx, then a clean close)."""
from __future__ import annotations

import socket
import ssl
import threading
import time

import psutil
import pytest
from conformance.rawh2 import PREFACE, settings_frame


def _accepted(srv) -> int:
    """Established TCP connections the server process has accepted on its port."""
    count = 0
    for proc in srv.processes():
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        count += sum(1 for c in conns if c.laddr and c.laddr.port == srv.port
                     and c.status == psutil.CONN_ESTABLISHED)
    return count


def test_connection_flood_is_capped(attack_server, good_client):
    """--worker-connections 20: a flood of idle connections never holds more than 20 established
    connections (a shed one gets its FIN before the one it makes room for is served); the
    accept loop sheds or waits for free slots (the backlog holds the rest) and the handshake
    timeout frees them, so an honest client on fresh connections is still served."""
    srv = attack_server(["--worker-connections", "20"])
    good = good_client(srv.port, per_connection=1, timeout=15)
    stop = threading.Event()
    socks: list[socket.socket] = []
    peak = [0]

    def sampler():
        while not stop.is_set():
            peak[0] = max(peak[0], _accepted(srv))
            time.sleep(0.05)

    t = threading.Thread(target=sampler, daemon=True)
    t.start()
    try:
        # keep 60 idle connections (three times the cap) open for 5 s, replacing each one the
        # server closes (handshake timeout 1 s)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            alive = []
            for s in socks:
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        s.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            socks[:] = alive
            while len(socks) < 60:
                try:
                    socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=2))
                except OSError:
                    break
            time.sleep(0.1)
        good.stop(min_ok=3)
        good.check(minimum=3)
    finally:
        stop.set()
        t.join(2)
        for s in socks:
            s.close()
    assert 0 < peak[0] <= 20, peak[0]
    assert srv.alive()


@pytest.fixture
def no_upgrade_server(attack_server):
    return attack_server(["--no-h2c-upgrade"])


def _http1(port: int, data: bytes, tls: bool = False, timeout: float = 5) -> bytes:
    """Send `data`, return everything until the server closes (fails if it does not)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(s, server_hostname="localhost")
    out = b""
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                raise AssertionError(f"server did not close; got {out[:300]!r}") from None
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


UPGRADE = (b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAA\r\n\r\n")


def test_h2c_smuggling_disabled(no_upgrade_server):
    """With --no-h2c-upgrade the Upgrade is ignored: the request is answered over HTTP/1.1 and
    the HTTP/2 preface that follows is not taken as HTTP/2 (no tunnel past a proxy)."""
    out = _http1(no_upgrade_server.port, UPGRADE + PREFACE + settings_frame())
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    assert b"101 Switching" not in out
    second = out[out.index(b"Hello, world!\n") + 14:]
    assert not second or second.startswith(b"HTTP/1.1 4") or second.startswith(b"HTTP/1.1 5"), second[:100]
    assert b"\x00\x00" not in second[:9], "HTTP/2 frames after the HTTP/1.1 response"


def test_h2c_upgrade_never_over_tls(attack_server, certs):
    """RFC 9113 §3.1: "h2c" is cleartext only; over TLS the Upgrade header is ignored."""
    srv = attack_server(["--certfile", certs.certfile, "--keyfile", certs.keyfile])
    out = _http1(srv.port, UPGRADE.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n", 1)
                 .replace(b"Connection: Upgrade, HTTP2-Settings", b"Connection: Upgrade, HTTP2-Settings, close"),
                 tls=True)
    assert out.startswith(b"HTTP/1.1 200"), out[:200]


MALFORMED = {
    "bad-request-line": (b"GET /hello\r\nHost: x\r\n\r\n", 400),
    "garbage": (b"\x16\x03\x01\x00\xff garbage\r\n\r\n", 400),
    "lowercase-method": (b"get /hello HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "bad-version": (b"GET /hello HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    "oversized-header": (b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "too-many-headers": (b"GET /hello HTTP/1.1\r\nHost: x\r\n" +
                         b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431),
    "huge-head": (b"GET /hello HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"b" * 8000 + b"\r\n" * 1
                  + b"".join(b"X-%d: %s\r\n" % (i, b"c" * 8000) for i in range(120)), 431),
    "long-request-line": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "space-before-colon": (b"GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "obs-fold": (b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
    "cl-and-te": (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "conflicting-cl": (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       b"Content-Length: 4\r\n\r\nabcd", 400),
    "negative-cl": (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    "bad-chunk-size": (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nabc\r\n0\r\n\r\n", 400),
    "chunk-missing-crlf": (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"3\r\nabcXX0\r\n\r\n", 400),
    "unknown-te": (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    "te-chunked-not-last": (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip"
                            b"\r\n\r\n", 501),
    "two-hosts": (b"GET /hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    "missing-host": (b"GET /hello HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400),
    "nul-in-value": (b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_http1(h1_server, case):
    data, status = MALFORMED[case]
    out = _http1(h1_server.port, data)
    assert out.startswith(b"HTTP/1.1 %d" % status), (case, out[:200])
    head = out.split(b"\r\n\r\n", 1)[0].lower()
    assert b"connection: close" in head, head
    assert out.count(b"HTTP/1.1 ") == 1, out[:400]  # nothing after the error response


@pytest.fixture(scope="module")
def attack_server_shared():
    from support.server import ServerProcess

    from attacks.conftest import APP, FAST
    with ServerProcess(FAST + [APP]) as srv:
        yield srv


@pytest.fixture
def h1_server(attack_server_shared):
    """The shared server; each test checks that it stayed up and logged no traceback."""
    srv = attack_server_shared
    start = len(srv.stderr_lines())
    yield srv
    time.sleep(0.05)
    new = "\n".join(srv.stderr_lines()[start:])
    assert srv.alive(), new[-3000:]
    assert "Traceback" not in new, "server logged a traceback:\n" + new[-3000:]
