"""RFC 9113 §3: starting HTTP/2 (prior knowledge, h2c upgrade, the connection preface)."""
from __future__ import annotations

import base64
import socket

from h2.errors import ErrorCodes

from conformance.rawh2 import ACK, PING, PREFACE, SETTINGS, RawH2, frame, ping_frame, settings_frame


def _raw_socket(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def _read_all(sock: socket.socket, limit: float = 5.0) -> bytes:
    sock.settimeout(limit)
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


class TestS3_4ConnectionPreface:
    def test_server_preface_is_settings(self, server):
        """§3.4: the server connection preface is a SETTINGS frame (possibly empty)."""
        c = RawH2(server.port)  # asserts the first frame is a non-ACK SETTINGS
        try:
            # and the server acknowledges ours (§6.5.3)
            f = c.read_until(lambda fr: fr.type == SETTINGS and fr.flags & ACK)
            assert f is not None and f.payload == b""
        finally:
            c.close()

    def test_invalid_preface_starting_like_http2(self, server):
        """§3.4: an invalid preface is a connection error PROTOCOL_ERROR (GOAWAY may be omitted),
        never an HTTP/1.1 400 response, even though this port falls back to HTTP/1.1."""
        s = _raw_socket(server.port)
        try:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings_frame())
            out = _read_all(s)
        finally:
            s.close()
        assert not out.startswith(b"HTTP/1"), out[:200]
        # Anything sent must be frames: SETTINGS first, then (optionally) GOAWAY(PROTOCOL_ERROR).
        frames = _split_frames(out)
        assert frames, "server must send its SETTINGS or close; got nothing"
        assert frames[0][0] == SETTINGS
        goaways = [p for t, _, _, p in frames if t == 7]
        for p in goaways:
            assert int.from_bytes(p[4:8], "big") == ErrorCodes.PROTOCOL_ERROR

    def test_invalid_preface_h2_only_port(self, start_server):
        """§3.4 on an h2-only listener: whatever the bytes, they are not answered as HTTP/1."""
        srv = start_server(["--http-protocols", "h2"])
        s = _raw_socket(srv.port)
        try:
            s.sendall(b"INVALID CONNECTION PREFACE\r\n\r\n")
            out = _read_all(s)
        finally:
            s.close()
        assert not out.startswith(b"HTTP/1"), out[:200]
        frames = _split_frames(out)
        codes = [int.from_bytes(p[4:8], "big") for t, _, _, p in frames if t == 7]
        assert codes in ([], [ErrorCodes.PROTOCOL_ERROR]), frames

    def test_preface_split_into_single_bytes(self, server):
        """§3.4: the preface may arrive in any TCP segmentation."""
        s = _raw_socket(server.port)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for b in PREFACE + settings_frame():
                s.sendall(bytes((b,)))
            s.sendall(ping_frame(b"12345678"))
            s.settimeout(5)
            got = b""
            while b"12345678" not in got:
                chunk = s.recv(65536)
                assert chunk, "connection closed"
                got += chunk
            assert any(t == PING and f & ACK for t, f, _, _ in _split_frames(got))
        finally:
            s.close()

    def test_preface_not_followed_by_settings(self, server):
        """§3.4: the preface MUST be followed by SETTINGS; a PING first is a PROTOCOL_ERROR."""
        c = RawH2(server.port, handshake=False)
        try:
            c.send(PREFACE + ping_frame())
            first = c.next_frame()
            assert first is not None and first.type == SETTINGS
            c.expect_goaway(ErrorCodes.PROTOCOL_ERROR)
        finally:
            c.close()


class TestS3_2H2cUpgrade:
    """RFC 7540 §3.2 (removed from RFC 9113 but still offered unless --no-h2c-upgrade)."""

    def _upgrade(self, port: int) -> RawH2:
        c = RawH2(port, handshake=False)
        settings = base64.urlsafe_b64encode(settings_frame({4: 65535})[9:]).rstrip(b"=")
        c.send(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n")
        head = b""
        c.sock.settimeout(5)
        while b"\r\n\r\n" not in head:
            chunk = c.sock.recv(1)
            assert chunk, "closed during 101"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        return c

    def test_upgrade_then_preface(self, server):
        c = self._upgrade(server.port)
        try:
            c.send(PREFACE + settings_frame())
            first = c.next_frame()
            assert first is not None and first.type == SETTINGS and not first.flags & ACK
            c.send(settings_frame(ack=True))
            resp = c.response(1)
            assert resp.status == 200 and bytes(resp.body) == b"Hello, world!\n"
        finally:
            c.close()

    def test_upgrade_then_invalid_preface(self, server):
        c = self._upgrade(server.port)
        try:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            f = c.read_until(lambda fr: fr.type == 7)
            if f is not None:
                assert f.error_code == ErrorCodes.PROTOCOL_ERROR, f
            c.expect_closed()
        finally:
            c.close()

    def test_upgrade_refused_when_disabled(self, start_server):
        srv = start_server(["--no-h2c-upgrade"])
        s = _raw_socket(srv.port)
        try:
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAA\r\n\r\n")
            s.settimeout(5)
            out = b""
            while b"Hello, world!" not in out:
                chunk = s.recv(65536)
                assert chunk, out
                out += chunk
            assert out.startswith(b"HTTP/1.1 200"), out[:100]
        finally:
            s.close()


def _split_frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    out = []
    while len(data) >= 9:
        n = int.from_bytes(data[:3], "big")
        if len(data) < 9 + n:
            break
        out.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF, data[9:9 + n]))
        data = data[9 + n:]
    return out


def test_frame_helper_sanity():
    """The frame builder used by this suite writes the RFC 9113 §4.1 layout."""
    raw = frame(PING, 1, 0, b"abcdefgh")
    assert raw[:9] == b"\x00\x00\x08\x06\x01\x00\x00\x00\x00"
