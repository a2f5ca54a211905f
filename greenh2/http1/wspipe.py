"""The HTTP/1.1 side of WebSocket (RFC 6455 §4): recognise the upgrade request, refuse a bad
one, and after `101 Switching Protocols` lend the connection's transport to the WebSocket layer
as a `Pipe`. Bytes the client sent right after its request head (already in the connection's
buffer) are the first bytes the pipe returns.
"""
from __future__ import annotations

import logging
from typing import Any

import gevent

from greenh2.config import Config
from greenh2.websocket import PipeClosed, Refusal, WebSocketRequest, h1_offer, wants_websocket
from greenh2.wsgi.environ import Headers, RequestHead

log = logging.getLogger("greenh2")
READ_SIZE = 65536
_REASONS = {400: "Bad Request", 426: "Upgrade Required"}


class H1Pipe:
    transport = "http/1.1"

    def __init__(self, conn: Any, config: Config) -> None:
        self.conn, self.config = conn, config  # conn: H1Connection (transport, buf)
        self.closed = False

    def accept(self, headers: Headers) -> None:
        lines = "".join(f"{n}: {v}\r\n" for n, v in headers)
        self.conn.transport.settimeout(self.config.send_timeout)
        self.send(f"HTTP/1.1 101 Switching Protocols\r\n{lines}\r\n".encode("latin-1"))
        log.debug("WebSocket over HTTP/1.1: 101 sent")

    def recv(self, timeout: float | None) -> bytes | None:
        buf = self.conn.buf
        if buf:
            data = bytes(buf)
            buf.clear()
            return data
        if self.closed:
            return b""
        try:
            with gevent.Timeout(timeout, False):
                while True:
                    try:
                        return bytes(self.conn.transport.recv(READ_SIZE))
                    except TimeoutError:  # the socket's send_timeout; our own timer decides
                        continue
        except OSError as exc:
            raise PipeClosed(f"read failed: {exc}") from None
        return None

    def send(self, data: bytes) -> None:
        try:
            self.conn.transport.sendall(data)
        except (OSError, TimeoutError) as exc:
            raise PipeClosed(f"write failed: {exc}") from None

    def close(self) -> None:
        self.closed = True  # the connection closes when the request's handler returns


def websocket_request(conn: Any, head: RequestHead, config: Config) -> WebSocketRequest | Refusal | None:
    """A WebSocketRequest for an upgrade request, a Refusal for a bad one, None otherwise."""
    if not config.websocket or not wants_websocket(head):
        return None
    offer = h1_offer(head)
    if isinstance(offer, Refusal):
        return offer
    request = WebSocketRequest(offer, H1Pipe(conn, config), config)
    head.extra.update(request.environ())
    return request


def refusal_bytes(refusal: Refusal) -> bytes:
    body = f"{refusal.reason}\n".encode()
    fields = "".join(f"{n}: {v}\r\n" for n, v in refusal.headers)
    return (f"HTTP/1.1 {refusal.status} {_REASONS.get(refusal.status, 'Bad Request')}\r\n{fields}"
            f"content-type: text/plain\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
            ).encode("latin-1") + body
