"""HTTP/1.1 cancellation (greenh2/http1/hangup.py): a client that closes its connection while the
app works on its request cancels it, as RST_STREAM does on HTTP/2 (test_full_duplex.py): the
handler sleeping in time.sleep gets StreamCancelled at once and environ['greenh2.cancelled'] is
set; with --threads only the signal. Over cleartext and TLS. A pipelined next request that
arrives while the app runs is not mistaken for a close: it is kept and answered in order."""
import json
import socket
import ssl
import time

import pytest
from support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)
APP = "duplex_app:app"


@pytest.fixture(scope="module")
def servers(certs):
    plain = ServerProcess(["--log-level", "debug", APP]).start()
    tls = ServerProcess(["--log-level", "debug", "--certfile", certs.certfile,
                         "--keyfile", certs.keyfile, APP]).start()
    try:
        yield {"http": plain, "https": tls}
        for srv in (plain, tls):
            assert srv.alive() and "Traceback" not in srv.stderr_text(), srv.stderr_text()[-3000:]
    finally:
        plain.close()
        tls.close()


def _connect(srv, scheme, certs):
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    if scheme == "https":
        ctx = ssl.create_default_context(cafile=certs.certfile)
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    return sock


def _get(sock, target, extra=b""):
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (target.encode(), extra))


def _read_response(sock, buf=b""):
    """(head, body, rest) of one Content-Length response."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(rest) < length:
        data = sock.recv(65536)
        assert data, (head, rest)
        rest += data
    return head, rest[:length], rest[length:]


def _seen(srv, scheme, certs, key, state, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        with _connect(srv, scheme, certs) as sock:
            _get(sock, "/seen?" + key)
            got = json.loads(_read_response(sock)[1] or b"null")
        if (got or {}).get("state") == state or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_client_close_interrupts_a_sleeping_handler(servers, certs, scheme):
    srv = servers[scheme]
    key = f"close-{scheme}"
    sock = _connect(srv, scheme, certs)
    _get(sock, "/sleep?" + key)
    assert _seen(srv, scheme, certs, key, "sleeping")["state"] == "sleeping"
    time.sleep(0.3)  # past the watch's 0.2 s arming delay: the close must come while it watches
    sock.close()
    got = _seen(srv, scheme, certs, key, "interrupted", timeout=3)
    assert got["state"] == "interrupted", got
    assert got["exception"] == "StreamCancelled" and got["cancelled"] is True, got
    assert got["elapsed"] < 4, got  # well before its 5 s sleep would have ended


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_pipelined_request_during_a_slow_one_is_kept_and_answered(servers, certs, scheme):
    with _connect(servers[scheme], scheme, certs) as sock:
        sock.sendall(b"POST /nap HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none")
        time.sleep(0.35)  # the first is asleep and watched when the second arrives
        sock.sendall(b"POST /nap HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo")
        head, body, rest = _read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body == b"nappedone", (head, body)
        head, body, rest = _read_response(sock, rest)
        assert head.startswith(b"HTTP/1.1 200") and body == b"nappedtwo", (head, body)
        _get(sock, "/seen?nothing")  # the connection still serves
        assert _read_response(sock, rest)[0].startswith(b"HTTP/1.1 200")


def test_threads_mode_handler_sees_the_signal(start_server):
    srv = start_server(["--threads", "2", "--log-level", "debug"], app=APP)
    sock = _connect(srv, "http", None)
    _get(sock, "/poll?h1threads")
    assert _seen(srv, "http", None, "h1threads", "sleeping")["state"] == "sleeping"
    time.sleep(0.3)
    sock.close()
    got = _seen(srv, "http", None, "h1threads", "interrupted", timeout=3)
    assert got["state"] == "interrupted" and got["elapsed"] < 4, got
    assert got["reason"] == "client closed the connection", got
    assert "Traceback" not in srv.stderr_text()
