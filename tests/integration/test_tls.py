"""TLS: ALPN selection, old protocol versions, handshake timeout."""
import socket
import ssl
import time
import warnings

import pytest
from support import http1
from support.h2raw import H2Client

pytestmark = pytest.mark.timeout(30)


def tls_connect(port, alpn=None, min_version=None, max_version=None, ciphers=None, timeout=5):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(sock, server_hostname="localhost")
    except Exception:
        sock.close()
        raise


def test_alpn_prefers_h2(server_alive):
    s = tls_connect(server_alive.tls_port, alpn=["http/1.1", "h2"])
    assert s.selected_alpn_protocol() == "h2"
    s.close()


def test_alpn_http11(server_alive):
    s = tls_connect(server_alive.tls_port, alpn=["http/1.1"])
    assert s.selected_alpn_protocol() == "http/1.1"
    s.sendall(b"GET /environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resp = http1.read_response(http1.Reader(s))
    s.close()
    assert resp.status == 200
    assert b'"SERVER_PROTOCOL": "HTTP/1.1"' in resp.body


def test_no_alpn_is_http11(server_alive):
    s = tls_connect(server_alive.tls_port, alpn=None)
    assert s.selected_alpn_protocol() is None
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resp = http1.read_response(http1.Reader(s))
    s.close()
    assert resp.status == 200 and resp.body == b"Hello, world!\n"


def test_tls12_h2_works(server_alive):
    s = tls_connect(server_alive.tls_port, alpn=["h2"], max_version=ssl.TLSVersion.TLSv1_2)
    assert s.version() == "TLSv1.2"
    assert s.selected_alpn_protocol() == "h2"
    s.close()
    c = H2Client("127.0.0.1", server_alive.tls_port, tls=True)
    assert c.wait_stream(c.get("/hello")).status == 200
    c.close()


def _client_can_tls11(certs):
    """Handshake TLS 1.1 against a local Python server that allows it."""
    import threading
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(certs.certfile, certs.keyfile)
        sctx.minimum_version = ssl.TLSVersion.TLSv1_1
        sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen()
        ls.settimeout(5)

        def serve():
            try:
                conn, _ = ls.accept()
                conn.settimeout(5)
                sctx.wrap_socket(conn, server_side=True).close()
            except Exception:
                pass
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            s = tls_connect(ls.getsockname()[1], min_version=ssl.TLSVersion.TLSv1_1,
                            max_version=ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
            ok = s.version() == "TLSv1.1"
            s.close()
            return ok
        except ssl.SSLError:
            return False
        finally:
            t.join(5)
            ls.close()


def test_tls11_refused(server_alive):
    if not _client_can_tls11(server_alive.certs):
        pytest.skip("this machine's OpenSSL cannot offer TLS 1.1 even at SECLEVEL=0")
    v11 = ssl.TLSVersion.TLSv1_1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ssl.SSLError) as exc:
            s = tls_connect(server_alive.tls_port, alpn=["h2", "http/1.1"], min_version=v11,
                            max_version=v11, ciphers="DEFAULT:@SECLEVEL=0")
            s.close()
    msg = str(exc.value)
    # the refusal must come from the server (an alert), not from our own OpenSSL
    assert "NO_PROTOCOLS_AVAILABLE" not in msg.upper(), msg


@pytest.mark.parametrize("tls", [True, False])
def test_handshake_timeout(start_server, certs, tls):
    args = ["--handshake-timeout", "1"]
    if tls:
        args += ["--certfile", certs.certfile, "--keyfile", certs.keyfile]
    srv = start_server(args)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=6)
    t0 = time.monotonic()
    received = b""
    while True:
        try:
            data = sock.recv(1024)
        except ConnectionResetError:
            data = b""
        except TimeoutError:
            pytest.fail("idle connection still open 6s after connect (handshake timeout 1s)")
        if not data:
            break
        received += data
    elapsed = time.monotonic() - t0
    sock.close()
    if tls:
        assert received == b"", received
    # (a cleartext server may send a 408 or a GOAWAY before closing; it must close though)
    assert 0.5 < elapsed < 4.0, "closed after %.2fs" % elapsed
    # the server is still serving
    c = H2Client("127.0.0.1", srv.port, tls=tls)
    assert c.wait_stream(c.get("/hello")).status == 200
    c.close()


def test_handshake_timeout_slow_tls_client(start_server, certs):
    """Trickling bytes of a ClientHello does not extend the deadline."""
    srv = start_server(["--handshake-timeout", "1", "--certfile", certs.certfile,
                        "--keyfile", certs.keyfile])
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=1)
    # start of a TLS record (handshake, TLS 1.0 record version), one byte at a time
    hello_start = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40
    t0 = time.monotonic()
    closed = False
    for b in hello_start:
        try:
            sock.send(bytes([b]))
            time.sleep(0.1)
        except OSError:
            closed = True
            break
        if time.monotonic() - t0 > 4.5:
            break
    if not closed:
        try:
            sock.settimeout(1)
            closed = sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        except TimeoutError:
            closed = False
    sock.close()
    assert closed, "slow ClientHello kept the connection open for %.1fs" % (time.monotonic() - t0)
    assert time.monotonic() - t0 < 4.0
