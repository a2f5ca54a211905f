"""HTTP/1.1 message bodies: the request body reader (Content-Length or chunked, with
`100 Continue` sent on the first read, the chunked trailer section and `max_body_size`) and the
response `Sink` (Content-Length, chunked or close-delimited framing, trailers, RFC 9112 §6-7)."""
from __future__ import annotations

import logging
from typing import Any, Protocol

from greenh2 import observe
from greenh2.config import Config
from greenh2.errors import PeerGone, RemoteProtocolError, body_too_large, body_too_slow
from greenh2.http1.message import Request, accepts_trailers, parse_fields
from greenh2.pace import Activity, Pace
from greenh2.wsgi.environ import Headers
from greenh2.wsgi.response import NO_BODY_STATUS


class Wire(Protocol):
    """What a body reader and a sink use of their connection (`H1Connection`)."""
    transport: Any
    buf: bytearray
    closing: bool
    config: Config
    activity: Activity | None

log = logging.getLogger("greenh2")
READ_SIZE = 65536
DISCARD_MAX = 1 << 20  # unread body we read past to keep a connection alive; beyond it, close
_SKIP = frozenset(("connection", "keep-alive", "transfer-encoding", "proxy-connection"))


class BodyReader:
    def __init__(self, conn: Wire, req: Request) -> None:
        self.conn, self.req = conn, req
        self.left = req.length or 0  # Content-Length bytes, or bytes left in the current chunk
        self.done = not req.chunked and not self.left
        self.continue_sent = not req.expect_continue
        self.chunk_started = False
        self.broken = False
        self.trailer_fields: Headers = []
        self.cap = conn.config.max_body_size  # 0: no limit
        self.received = 0  # body bytes handed to the app (counted only under a cap)
        self.too_large = False
        self.drain = True  # discard() may read past an unread body
        if self.cap and (req.length or 0) > self.cap:
            # The dispatcher answers 413 without reading (dispatch.py). The unread body is
            # drained afterwards when it is small and was sent (RFC 9112 §9.6); with
            # `Expect: 100-continue` no 100 goes out and the body may or may not follow, so the
            # connection closes (RFC 9110 §10.1.1) -- the 413 says so.
            if req.expect_continue or (req.length or 0) > DISCARD_MAX:
                req.keep_alive = self.drain = False
        cfg = conn.config
        self.pace = Pace(cfg.min_request_rate, cfg.min_rate_grace, activity=conn.activity)

    def _recv(self) -> None:
        """More body bytes, waiting at most `keepalive` per read and within the client's
        min_request_rate credit (Kestrel's MinRequestBodyDataRate)."""
        transport, pace = self.conn.transport, self.pace
        per_read = self.conn.config.keepalive or None
        if pace.enabled:
            allowed = pace.allowance(per_read)
            transport.settimeout(None if allowed is None else max(allowed, 0.001))
        pace.begin()
        try:
            data = transport.recv(READ_SIZE)
        except OSError as exc:
            pace.end()
            if isinstance(exc, TimeoutError) and pace.exhausted():
                self._too_slow()
            raise PeerGone(f"reading request body: {exc}") from None
        finally:
            if pace.enabled:
                transport.settimeout(per_read)
        pace.end(len(data))
        if not data:
            raise PeerGone("client closed the connection mid-body")
        self.conn.buf += data

    def _too_slow(self) -> None:
        self.broken = True
        self.req.keep_alive = False
        observe.OBSERVER.limit_tripped("request_rate")
        log.info("closing connection: request body %s %s arrives below min_request_rate "
                 "(%d bytes in %.1f s of waiting)", self.req.head.method, self.req.head.target[:200],
                 self.pace.drained, self.pace.spent)
        raise body_too_slow()

    def pull(self, size: int) -> bytes:
        """wsgi.input's source; past `max_body_size` it raises RequestBodyTooLarge at the first
        byte over the limit, and the connection closes after the response."""
        if not self.cap:
            return self._read(size)
        if self.too_large:
            raise body_too_large(self.cap)
        room = self.cap - self.received
        data = self._read(min(size, room) if room else 1)
        if data and not room:  # a byte past the limit: the rest of the body is never read
            self.too_large = True
            self.req.keep_alive = False
            observe.OBSERVER.limit_tripped("body_size")
            raise body_too_large(self.cap)
        self.received += len(data)
        return data

    def _read(self, size: int) -> bytes:
        try:
            return self._pull(size)
        except RemoteProtocolError:
            self.broken = True  # framing lost: the connection cannot carry another request
            self.req.keep_alive = False
            raise

    def _pull(self, size: int) -> bytes:
        if self.done:
            return b""
        if not self.continue_sent:
            self.continue_sent = True
            self.conn.transport.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.req.chunked and not self.left and not self._next_chunk():
            return b""
        buf = self.conn.buf
        if not buf:
            self._recv()
        take = min(size, self.left, len(buf))
        data = bytes(buf[:take])
        del buf[:take]
        self.left -= take
        if not self.req.chunked and not self.left:
            self.done = True
        return data

    def trailers(self) -> Headers | None:
        """The chunked trailer section once the body has been read to its end; None before."""
        return self.trailer_fields if self.done else None

    def _line(self, limit: int = 4096, what: str = "chunk header", status: int = 400) -> bytes:
        buf = self.conn.buf
        while True:
            end = buf.find(b"\r\n")
            if end >= 0:
                if end > limit:
                    raise RemoteProtocolError(f"{what} too long", status)
                line = bytes(buf[:end])
                del buf[:end + 2]
                return line
            if len(buf) > limit:
                raise RemoteProtocolError(f"{what} too long", status)
            self._recv()

    def _next_chunk(self) -> bool:
        """Read the next chunk header (RFC 9112 §7.1); False after the last chunk."""
        if self.chunk_started and self._line() != b"":
            raise RemoteProtocolError("chunk data not followed by CRLF")
        self.chunk_started = True
        size_text = self._line().split(b";", 1)[0].strip()
        try:
            if not size_text or size_text.startswith((b"-", b"+", b"0x")):
                raise ValueError
            size = int(size_text, 16)
        except ValueError:
            raise RemoteProtocolError("bad chunk size") from None
        if size == 0:
            self._read_trailers()
            self.done = True
            return False
        self.left = size
        return True

    def _read_trailers(self) -> None:
        """The trailer section after the last chunk (RFC 9112 §7.1.2), held to the same limits
        as the header section: limit_request_fields fields of limit_request_field_size each."""
        cfg = self.conn.config
        lines: list[str] = []
        while True:
            line = self._line(cfg.limit_request_field_size, "trailer field", 431)
            if not line:
                break
            if len(lines) >= cfg.limit_request_fields:
                raise RemoteProtocolError("too many trailer fields", 431)
            lines.append(line.decode("latin-1"))
        self.trailer_fields = parse_fields(lines, cfg.limit_request_field_size)

    def discard(self) -> bool:
        """Read past an unread body so the connection can be reused; False if too much."""
        if not self.continue_sent or self.too_large or not self.drain:  # never sent, left unread
            return False
        total = 0
        try:
            while not self.done and total <= DISCARD_MAX:
                total += len(self._read(READ_SIZE))
        except (PeerGone, RemoteProtocolError):
            return False
        return self.done


class H1Sink:
    """wsgi.Sink for HTTP/1.x: the head waits to leave with the first body bytes (one write)."""

    def __init__(self, conn: Wire, req: Request) -> None:
        self.conn, self.req = conn, req
        self.pending = b""
        self.chunked = False
        self.finished = False
        self.failed = False
        cfg = conn.config
        self.pace = Pace(cfg.min_response_rate, cfg.min_rate_grace, activity=conn.activity)

    def informational(self, status: int, headers: Headers) -> None:
        if self.req.head.protocol == "HTTP/1.1":
            lines = "".join(f"{n}: {v}\r\n" for n, v in headers)
            self._send(f"HTTP/1.1 {status} Early Hints\r\n{lines}\r\n".encode("latin-1"))

    def start(self, status: int, reason: str, headers: Headers, end: bool) -> None:
        req = self.req
        has_length = any(n.lower() == "content-length" for n, _ in headers)
        no_body = req.head.method == "HEAD" or status in NO_BODY_STATUS or status < 200
        keep = req.keep_alive and not self.conn.closing
        lines = [f"{req.head.protocol} {status} {reason}\r\n"]
        lines += [f"{n}: {v}\r\n" for n, v in headers if n.lower() not in _SKIP]
        if not has_length and not no_body:
            if end:
                lines.append("content-length: 0\r\n")
            elif req.head.protocol == "HTTP/1.1":
                self.chunked = True
                lines.append("transfer-encoding: chunked\r\n")
            else:
                keep = False  # HTTP/1.0 without a length: the close ends the body
        if not keep:
            req.keep_alive = False
        lines.append("connection: keep-alive\r\n\r\n" if keep and req.head.protocol == "HTTP/1.0"
                     else ("\r\n" if keep else "connection: close\r\n\r\n"))
        self.pending = "".join(lines).encode("latin-1")
        if end:
            self.finish()

    def write(self, data: bytes, end: bool = False) -> None:
        if self.chunked:
            data = b"%x\r\n%s\r\n%s" % (len(data), data, b"0\r\n\r\n" if end else b"")
        if self.pending:
            data, self.pending = self.pending + data, b""
        self._send(data)
        if end:
            self.finished = True

    def finish(self) -> None:
        tail = b"0\r\n\r\n" if self.chunked else b""
        data, self.pending = self.pending + tail, b""
        if data:
            self._send(data)
        self.finished = True

    def trailers(self, headers: Headers) -> None:
        """End a chunked response with a trailer section (RFC 9112 §7.1.2), for a client that
        sent `TE: trailers`; otherwise the body ends as usual and the trailers are dropped."""
        if not self.chunked or not accepts_trailers(self.req.head.headers):
            log.debug("dropping response trailers %s: %s", [n for n, _ in headers],
                      "the response is not chunked" if not self.chunked
                      else "the client did not send 'TE: trailers'")
            self.finish()
            return
        fields = "".join(f"{n}: {v}\r\n" for n, v in headers).encode("latin-1")
        data, self.pending = self.pending + b"0\r\n" + fields + b"\r\n", b""
        self._send(data)
        self.finished = True

    def abort(self) -> None:
        self.failed = True  # the body is cut short: closing the connection tells the client

    def _send(self, data: bytes) -> None:
        try:
            self.conn.transport.sendall(data, self.pace)
        except OSError as exc:
            self.failed = True
            raise PeerGone(str(exc)) from None
