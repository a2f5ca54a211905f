"""A byte-level HTTP/2 peer for conformance and attack tests.

Unlike tests/support/h2raw.py (which drives h2's client state machine and so can only send what
h2 allows), this client writes any frame, valid or not: frames are built from hyperframe objects
or from raw bytes. Server frames are parsed by hand and response header blocks decoded with one
HPACK decoder for the connection, so the HPACK state stays in step with the server.
"""
from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass, field

from h2.errors import ErrorCodes
from hpack import Decoder, Encoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
         5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

# SETTINGS identifiers (RFC 9113 §6.5.2)
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)


def frame(ftype: int, flags: int = 0, stream_id: int = 0, payload: bytes = b"",
          length: int | None = None) -> bytes:
    """One frame as bytes; `length` may lie about the payload length."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes((ftype, flags)) + struct.pack(">I", stream_id) + payload


def settings_frame(values: dict[int, int] | list[tuple[int, int]] = (), ack: bool = False) -> bytes:
    items = values.items() if isinstance(values, dict) else values
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in items))


def ping_frame(opaque: bytes = b"conform!", ack: bool = False, stream_id: int = 0) -> bytes:
    return frame(PING, ACK if ack else 0, stream_id, opaque)


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def rst_stream(stream_id: int, code: int = ErrorCodes.CANCEL) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def priority_frame(stream_id: int, depends_on: int = 0, weight: int = 15, exclusive: bool = False) -> bytes:
    dep = depends_on | (0x80000000 if exclusive else 0)
    return frame(PRIORITY, 0, stream_id, struct.pack(">IB", dep, weight))


def goaway_frame(last_stream_id: int = 0, code: int = 0, stream_id: int = 0) -> bytes:
    return frame(GOAWAY, 0, stream_id, struct.pack(">II", last_stream_id, code))


def data_frame(stream_id: int, data: bytes = b"", end_stream: bool = False,
               pad: int | None = None) -> bytes:
    flags = END_STREAM if end_stream else 0
    if pad is not None:
        return frame(DATA, flags | PADDED, stream_id, bytes((pad,)) + data + b"\0" * pad)
    return frame(DATA, flags, stream_id, data)


@dataclass
class Frame:
    type: int
    flags: int
    stream_id: int
    payload: bytes

    @property
    def name(self) -> str:
        return NAMES.get(self.type, hex(self.type))

    @property
    def error_code(self) -> int:
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        raise ValueError(f"{self.name} has no error code")

    @property
    def last_stream_id(self) -> int:
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def __repr__(self) -> str:
        extra = ""
        if self.type in (RST_STREAM, GOAWAY):
            extra = f" code={_code_name(self.error_code)}"
            if self.type == GOAWAY:
                extra += f" last={self.last_stream_id} debug={self.payload[8:80]!r}"
        return f"<{self.name} flags={self.flags:#x} sid={self.stream_id} len={len(self.payload)}{extra}>"


def _code_name(code: int) -> str:
    try:
        return ErrorCodes(code).name
    except ValueError:
        return hex(code)


@dataclass
class Response:
    stream_id: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    trailers: list[tuple[str, str]] = field(default_factory=list)
    informational: list[list[tuple[str, str]]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None

    @property
    def status(self) -> int | None:
        for k, v in self.headers:
            if k == ":status":
                return int(v)
        return None


class ConnectionClosed(AssertionError):
    pass


class RawH2:
    """One raw HTTP/2 connection. With `handshake` the preface and an empty SETTINGS frame are
    sent and the server's SETTINGS is read and acknowledged."""

    def __init__(self, port: int, host: str = "127.0.0.1", tls: bool = False,
                 handshake: bool = True, settings: dict[int, int] | None = None,
                 timeout: float = 5.0, alpn: tuple[str, ...] = ("h2",), auto_window: bool = True,
                 sock: socket.socket | None = None) -> None:
        """`sock`: an already connected (and, with `tls`, wrapped) socket to adopt."""
        if sock is not None:
            self.sock = sock
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls and sock is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(list(alpn))
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.scheme = "https" if tls else "http"
        self.authority = f"{host}:{port}"
        self.timeout = timeout
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.buf = bytearray()
        self.closed = False
        self.received: list[Frame] = []
        self.responses: dict[int, Response] = {}
        self.server_settings: dict[int, int] = {}
        self.auto_window = auto_window
        self._block: tuple[int, bytearray, int] | None = None  # (sid, fragment, flags)
        if handshake:
            self.send(PREFACE + settings_frame(settings or {}))
            first = self.next_frame()
            assert first is not None and first.type == SETTINGS and not first.flags & ACK, \
                f"server preface must start with SETTINGS (RFC 9113 §3.4), got {first!r}"
            self.send(settings_frame(ack=True))

    # --- context ------------------------------------------------------------------------------
    def __enter__(self) -> "RawH2":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # --- sending ------------------------------------------------------------------------------
    def send(self, *chunks: bytes) -> None:
        try:
            self.sock.sendall(b"".join(chunks))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.closed = True

    def request_headers(self, path: str = "/hello", method: str = "GET",
                        extra: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        return [(":method", method), (":scheme", self.scheme), (":path", path),
                (":authority", self.authority)] + list(extra)

    def encode(self, headers: list[tuple[str, str]], huffman: bool = True) -> bytes:
        return self.encoder.encode(headers, huffman=huffman)

    def headers_frame(self, stream_id: int, headers: list[tuple[str, str]] | None = None,
                      end_stream: bool = True, end_headers: bool = True, block: bytes | None = None,
                      pad: int | None = None, priority: tuple[int, int] | None = None) -> bytes:
        """HEADERS; `block` overrides the encoded `headers` (raw HPACK bytes)."""
        if block is None:
            block = self.encode(headers if headers is not None else self.request_headers())
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        prefix = b""
        if priority is not None:
            flags |= PRIORITY_FLAG
            prefix = struct.pack(">IB", priority[0], priority[1])
        if pad is not None:
            flags |= PADDED
            return frame(HEADERS, flags, stream_id, bytes((pad,)) + prefix + block + b"\0" * pad)
        return frame(HEADERS, flags, stream_id, prefix + block)

    def continuation(self, stream_id: int, block: bytes, end_headers: bool = True) -> bytes:
        return frame(CONTINUATION, END_HEADERS if end_headers else 0, stream_id, block)

    def get(self, stream_id: int, path: str = "/hello", extra: list[tuple[str, str]] = ()) -> None:
        self.send(self.headers_frame(stream_id, self.request_headers(path, "GET", extra)))

    # --- receiving ----------------------------------------------------------------------------
    def _recv(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def next_frame(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None if the connection closed or `timeout` passed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    raw = bytes(self.buf[:9 + length])
                    del self.buf[:9 + length]
                    f = Frame(raw[3], raw[4], int.from_bytes(raw[5:9], "big") & 0x7FFFFFFF, raw[9:])
                    self.received.append(f)
                    self._track(f)
                    return f
            if self.closed or not self._recv(deadline):
                return None

    def _track(self, f: Frame) -> None:
        if f.type == SETTINGS and not f.flags & ACK:
            for i in range(0, len(f.payload) - 5, 6):
                k, v = struct.unpack(">HI", f.payload[i:i + 6])
                self.server_settings[k] = v
        elif f.type in (HEADERS, CONTINUATION):
            payload = f.payload
            if f.type == HEADERS:
                if f.flags & PADDED:
                    pad = payload[0]
                    payload = payload[1:len(payload) - pad]
                if f.flags & PRIORITY_FLAG:
                    payload = payload[5:]
                self._block = (f.stream_id, bytearray(payload), f.flags)
            elif self._block is not None:
                self._block[1].extend(payload)
            if f.flags & END_HEADERS and self._block is not None:
                sid, block, flags = self._block
                self._block = None
                headers = self.decoder.decode(bytes(block))
                resp = self.responses.setdefault(sid, Response(sid))
                if not resp.headers:
                    status = dict(headers).get(":status", "200")
                    if status.startswith("1"):
                        resp.informational.append(headers)
                    else:
                        resp.headers = headers
                else:
                    resp.trailers = headers
                if flags & END_STREAM:
                    resp.ended = True
        elif f.type == DATA:
            resp = self.responses.setdefault(f.stream_id, Response(f.stream_id))
            payload = f.payload
            if f.flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            resp.body += payload
            if f.flags & END_STREAM:
                resp.ended = True
            if self.auto_window and f.payload:
                self.send(window_update(0, len(f.payload)))
                if not resp.ended:
                    self.send(window_update(f.stream_id, len(f.payload)))
        elif f.type == RST_STREAM:
            resp = self.responses.setdefault(f.stream_id, Response(f.stream_id))
            resp.reset = f.error_code
        elif f.type == PING and not f.flags & ACK:
            self.send(ping_frame(f.payload, ack=True))

    def read_until(self, cond, timeout: float | None = None) -> Frame | None:
        """Read frames until `cond(frame)` is true; returns that frame (None: closed / timeout)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.next_frame(max(deadline - time.monotonic(), 0))
            if f is None or cond(f):
                return f

    def response(self, stream_id: int, timeout: float | None = None) -> Response:
        """Read until the stream ends or is reset; assert the connection stayed up."""
        def done(_f: Frame) -> bool:
            r = self.responses.get(stream_id)
            return r is not None and (r.ended or r.reset is not None)
        if not done(None):  # type: ignore[arg-type]
            f = self.read_until(lambda fr: done(fr) or fr.type == GOAWAY, timeout)
            assert f is not None, f"no response on stream {stream_id}; got {self.received!r}"
            assert f.type != GOAWAY or done(f), f"GOAWAY instead of a response: {f!r}"
        return self.responses[stream_id]

    # --- verdicts -----------------------------------------------------------------------------
    def expect_goaway(self, code: int, timeout: float | None = None) -> Frame:
        """A connection error (RFC 9113 §5.4.1): GOAWAY with `code`, then the connection closes."""
        f = self.read_until(lambda fr: fr.type == GOAWAY, timeout)
        assert f is not None, (f"expected GOAWAY({_code_name(code)}); connection "
                               f"{'closed' if self.closed else 'stayed open'}; got {self.received!r}")
        assert f.error_code == code, f"expected GOAWAY({_code_name(code)}), got {f!r}"
        self.expect_closed(timeout)
        return f

    def expect_closed(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.closed:
            f = self.next_frame(max(deadline - time.monotonic(), 0))
            if f is None and not self.closed:
                raise AssertionError(f"connection not closed by the server; got {self.received!r}")

    def expect_stream_error(self, stream_id: int, code: int, timeout: float | None = None) -> Frame:
        """A stream error (RFC 9113 §5.4.2): RST_STREAM with `code` on the stream; a connection
        error with the same code is allowed too (§5.4.1: any stream error may be escalated)."""
        f = self.read_until(lambda fr: (fr.type == RST_STREAM and fr.stream_id == stream_id)
                            or fr.type == GOAWAY, timeout)
        assert f is not None, (f"expected RST_STREAM({_code_name(code)}) on {stream_id}; got "
                               f"{self.received!r} closed={self.closed}")
        assert f.error_code == code, f"expected {_code_name(code)} on stream {stream_id}, got {f!r}"
        return f

    def expect_alive(self, timeout: float | None = None) -> None:
        """The connection is still usable: a PING is answered (RFC 9113 §6.7)."""
        opaque = struct.pack(">d", time.monotonic())
        self.send(ping_frame(opaque))
        f = self.read_until(lambda fr: (fr.type == PING and fr.flags & ACK and fr.payload == opaque)
                            or fr.type == GOAWAY, timeout)
        assert f is not None and f.type == PING, \
            f"connection not alive: {f!r} closed={self.closed} frames={self.received!r}"

    def frames_of(self, ftype: int) -> list[Frame]:
        return [f for f in self.received if f.type == ftype]
