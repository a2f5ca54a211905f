"""HTTP/1.1 and HTTP/1.0 on one connection (RFC 9112): keep-alive, pipelining, chunked bodies
both ways, `Expect: 100-continue`, and the hand-off of `Upgrade: h2c` (RFC 7540 §3.2) to HTTP/2.

Requests are served one after another, as HTTP/1.1 requires; the WSGI rules are in `greenh2.wsgi` and
shared with HTTP/2 through the same `Sink` interface.
"""
from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from typing import Any

from gevent import Timeout

from greenh2 import observe
from greenh2.config import Config
from greenh2.errors import RemoteProtocolError, StreamCancelled
from greenh2.http1.body import BodyReader, H1Sink
from greenh2.http1.hangup import HangupWatch
from greenh2.http1.message import Request, header_value, parse_request, wants_h2c
from greenh2.http1.wspipe import refusal_bytes, websocket_request
from greenh2.pace import BUSY, HEAD, IDLE, Activity
from greenh2.websocket import Refusal, WebSocketRequest
from greenh2.wsgi.cancel import CancelSignal
from greenh2.wsgi.environ import ConnInfo, RequestHead

log = logging.getLogger("greenh2")
READ_SIZE = 65536
UPGRADE_BODY_MAX = 1 << 20  # a larger Upgrade request body is served over HTTP/1.1 instead
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 431: "Request Header Fields Too Large", 501: "Not Implemented",
            505: "HTTP Version Not Supported"}
_LIMIT_STATUS = {414: "request_line", 431: "request_fields"}  # limit_request_* (README: Limits)


class Upgrade:
    """A request that switched to h2c: it becomes HTTP/2 stream 1."""

    def __init__(self, head: RequestHead, settings: bytes, body: bytes, rest: bytes) -> None:
        self.head, self.settings, self.body, self.rest = head, settings, body, rest


class H1Connection:
    def __init__(self, transport: Any, config: Config, handler: Callable[..., None],
                 conninfo: ConnInfo, preread: bytes = b"", deadline: float = 0.0,
                 activity: Activity | None = None) -> None:
        self.transport, self.config, self.handler, self.conninfo = transport, config, handler, conninfo
        self.activity = activity  # what the connection cap's shedding sees (greenh2.pace)
        self.deadline = deadline or time.monotonic() + config.handshake_timeout
        self.buf = bytearray(preread)
        self.closing = False  # graceful shutdown: finish this response, then close
        self.idle = True
        self.served = 0
        self.websocket: WebSocketRequest | None = None  # the upgrade request being served
        self.allow_upgrade = (not transport.secure and config.h2c_upgrade and "h2" in config.protocols)

    def shutdown(self) -> None:
        """Graceful stop: a keep-alive connection waiting between requests closes now; one that
        has not sent its first request yet still gets that request answered (with close)."""
        self.closing = True
        if self.websocket is not None:
            self.websocket.going_away()  # close 1001 (RFC 6455 §7.4.1)
        if self.idle and self.served:
            self.transport.close()

    # --- the request loop ---------------------------------------------------------------------

    def serve(self) -> Upgrade | None:
        first = True
        while first or not self.closing:
            try:
                head_bytes = self._read_head(first)
            except RemoteProtocolError as exc:
                self._reject(exc.status)
                return None
            except (TimeoutError, Timeout):
                if first or not self.idle:  # the head did not arrive in time (slowloris)
                    observe.OBSERVER.limit_tripped("slowloris")
                return None
            except OSError:
                return None
            if head_bytes is None:
                return None
            first = False
            try:
                req = parse_request(head_bytes, self.conninfo.url_scheme, self.config)
            except RemoteProtocolError as exc:
                self._reject(exc.status)
                return None
            if self.allow_upgrade and wants_h2c(req):
                upgrade = self._try_upgrade(req)
                if upgrade is not None:
                    return upgrade
            if not self._serve_one(req):
                return None
        return None

    def _read_head(self, first: bool) -> bytes | None:
        """The bytes up to the blank line; None if the client closed between requests."""
        cfg = self.config
        limit = cfg.limit_request_line + cfg.limit_request_fields * (cfg.limit_request_field_size + 2) + 4
        self.transport.settimeout(cfg.handshake_timeout if first else (cfg.keepalive or None))
        self.idle = True
        if not first:
            self._enter(IDLE)
        while self.buf[:2] == b"\r\n":  # RFC 9112 §2.2: ignore empty lines before a request
            del self.buf[:2]
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 and not self._recv_head(limit, first):
            return None
        end = self.buf.find(b"\r\n\r\n")
        head = bytes(self.buf[:end + 4])
        del self.buf[:end + 4]
        return head

    def _recv_head(self, limit: int, first: bool) -> bool:
        # Slowloris: the first head must be complete by the connection's deadline; later heads
        # get handshake_timeout from their first byte.
        timer: Timeout | None = None
        if first:
            timer = Timeout.start_new(max(self.deadline - time.monotonic(), 0.001))
        try:
            while True:
                data = self.transport.recv(READ_SIZE)
                if not data:
                    if self.buf.strip():
                        raise RemoteProtocolError("incomplete request head")
                    return False
                self.idle = False
                if timer is None:
                    timer = Timeout.start_new(self.config.handshake_timeout)
                    self._enter(HEAD)
                self.buf += data
                while self.buf[:2] == b"\r\n":
                    del self.buf[:2]
                if self.buf.find(b"\r\n\r\n") >= 0:
                    return True
                if len(self.buf) > limit:
                    line_end = self.buf.find(b"\r\n")
                    too_long_line = line_end < 0 or line_end > self.config.limit_request_line
                    raise RemoteProtocolError("request head too large", 414 if too_long_line else 431)
        finally:
            if timer is not None:
                timer.close()

    def _enter(self, phase: str) -> None:
        if self.activity is not None:
            self.activity.enter(phase, time.monotonic())

    def _serve_one(self, req: Request) -> bool:
        """Run one request; True if the connection can carry another."""
        self.idle = False
        self._enter(BUSY)
        self.transport.settimeout(self.config.keepalive or None)
        ws = websocket_request(self, req.head, self.config)
        if isinstance(ws, Refusal):
            self._send_quietly(refusal_bytes(ws))
            return False
        if ws is not None:
            return self._serve_websocket(req, ws)
        body = BodyReader(self, req)
        req.head.trailers = body.trailers
        sink = H1Sink(self, req)
        cancelled = req.head.extra["greenh2.cancelled"] = CancelSignal()
        watch = HangupWatch(self, body, sink, cancelled)  # the client closing cancels the request
        try:
            self.handler(req.head, self.conninfo, body.pull, sink)
        except StreamCancelled:  # thrown after the app's part (run_app catches it inside)
            return False
        finally:
            watch.stop()
        self.served += 1
        if cancelled.is_set():
            return False
        if sink.failed or not sink.finished or body.broken:
            return False
        if not body.done and not body.discard():
            return False
        return req.keep_alive and not self.closing

    def _serve_websocket(self, req: Request, ws: WebSocketRequest) -> bool:
        """An upgrade request (RFC 6455 §4.2): the app may take the connection over through
        wsgi.websocket; if it answers with an ordinary response, keep-alive goes on."""
        body = BodyReader(self, req)
        sink = H1Sink(self, req)
        self.websocket = ws
        if self.closing:  # the first request of a connection the stop still serves: 1001 once accepted
            ws.going_away()
        log.debug("WebSocket upgrade %s from %s: app called", req.head.target, self.conninfo.remote_addr)
        try:
            self.handler(req.head, self.conninfo, body.pull, ws.wrap_sink(sink))
            ws.finish()
        finally:
            self.websocket = None
        self.served += 1
        if ws.taken_over or sink.failed or not sink.finished or body.broken:
            return False
        if not body.done and not body.discard():
            return False
        return req.keep_alive and not self.closing

    def _send_quietly(self, data: bytes) -> None:
        try:
            self.transport.sendall(data)
        except OSError:
            pass

    def _reject(self, status: int) -> None:
        limit = _LIMIT_STATUS.get(status)
        if limit is not None:
            observe.OBSERVER.limit_tripped(limit)
        reason = _REASONS.get(status, "Bad Request")
        body = f"{status} {reason}\n".encode()
        try:
            self.transport.sendall(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d"
                                   b"\r\nconnection: close\r\n\r\n%s"
                                   % (status, reason.encode(), len(body), body))
        except OSError:
            pass

    # --- h2c upgrade --------------------------------------------------------------------------

    def _try_upgrade(self, req: Request) -> Upgrade | None:
        cap = self.config.max_body_size  # a body over it gets its 413 over HTTP/1.1
        limit = min(cap, UPGRADE_BODY_MAX) if cap else UPGRADE_BODY_MAX
        if req.chunked or (req.length or 0) > limit or req.expect_continue:
            return None  # RFC 7540 §3.2: the server may ignore Upgrade; serve over HTTP/1.1
        settings = header_value(req.head.headers, "http2-settings")
        try:
            raw = base64.urlsafe_b64decode(settings + "=" * (-len(settings) % 4))
        except (binascii.Error, ValueError):
            return None
        body = BodyReader(self, req)
        parts = []
        while True:
            chunk = body.pull(READ_SIZE)
            if not chunk:
                break
            parts.append(chunk)
        head = req.head
        hop = ("http2-settings", "connection", "upgrade")
        head.headers = [(n, v) for n, v in head.headers if n not in hop]
        head.protocol = "HTTP/2.0"
        head.body_length = sum(len(p) for p in parts)
        self.transport.sendall(b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\n"
                               b"upgrade: h2c\r\n\r\n")
        return Upgrade(head, base64.urlsafe_b64encode(raw), b"".join(parts), bytes(self.buf))
