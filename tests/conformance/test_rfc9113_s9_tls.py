"""RFC 9113 §3.2 / §9.2 over TLS: ALPN "h2", TLS version and cipher requirements, and a few
of the frame-level checks repeated over TLS."""
from __future__ import annotations

import socket
import ssl

import pytest
from h2.errors import ErrorCodes

from conformance.rawh2 import GOAWAY, RawH2, data_frame


def test_alpn_h2(tls_server):
    with RawH2(tls_server.port, tls=True) as c:
        assert c.sock.selected_alpn_protocol() == "h2"
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")  # §9.2: TLS 1.2 or later
        c.get(1)
        resp = c.response(1)
        assert resp.status == 200 and bytes(resp.body) == b"Hello, world!\n"


def test_tls_without_alpn_prior_knowledge(tls_server):
    """§3.3: a client with prior knowledge may send the preface without ALPN."""
    with RawH2(tls_server.port, tls=True, alpn=()) as c:
        c.get(1)
        assert c.response(1).status == 200


def test_alpn_http11_is_not_http2(tls_server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == "http/1.1"
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            assert out.startswith(b"HTTP/1.1 200")


def test_tls_below_1_2_refused(tls_server):
    """§9.2: HTTP/2 over TLS MUST use TLS 1.2 or higher."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.fail("the local OpenSSL cannot build a TLS 1.1 client context")
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            ctx.wrap_socket(raw, server_hostname="localhost").do_handshake()


def test_blocklisted_tls12_cipher_not_used_for_h2(tls_server):
    """§9.2.2: with TLS 1.2, the cipher suites of Appendix A are not used with h2: offered
    only a CBC suite, the server refuses the handshake or ends the connection with
    INADEQUATE_SECURITY."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA")
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, ConnectionResetError):
            return  # refused at the handshake
        with s:
            c = RawH2(tls_server.port, tls=True, handshake=False, sock=s)
            c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            f = c.read_until(lambda fr: fr.type == GOAWAY)
            assert f is not None and f.error_code == ErrorCodes.INADEQUATE_SECURITY, \
                (s.cipher(), c.received)


def test_connection_error_over_tls(tls_server):
    with RawH2(tls_server.port, tls=True) as c:
        c.send(data_frame(0, b"x"))
        c.expect_goaway(ErrorCodes.PROTOCOL_ERROR)


def test_hpack_error_over_tls(tls_server):
    with RawH2(tls_server.port, tls=True) as c:
        c.send(c.headers_frame(1, block=b"\x82\x86\x84\xc6"))
        c.expect_goaway(ErrorCodes.COMPRESSION_ERROR)


def test_content_length_mismatch_over_tls(tls_server):
    with RawH2(tls_server.port, tls=True) as c:
        c.send(c.headers_frame(1, c.request_headers("/sha256", "POST", [("content-length", "2")]),
                               end_stream=False), data_frame(1, b"abc", end_stream=True))
        c.expect_stream_error(1, ErrorCodes.PROTOCOL_ERROR)
