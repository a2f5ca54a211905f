"""The HTTP/2 side of WebSocket: RFC 8441 extended CONNECT, and an HTTP/2 stream as a `Pipe`.

The server announces SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 in its first SETTINGS frame (engine).
h2 checks the pseudo-header set of an extended CONNECT (RFC 8441 §4: `:scheme` and `:path` must
be there; h2 treats a malformed header block as a connection error, which RFC 9113 §5.4.1
allows). This module decides the rest when the request arrives, on the reader (never blocking):
* `:protocol` while WebSocket is off, so the setting was never sent: malformed (RFC 8441 §3, §5:
  "a non-supporting peer would detect a malformed request"): RST_STREAM(PROTOCOL_ERROR);
* a `:protocol` other than "websocket": 501 (RFC 9220 §3 states it for HTTP/3; same rule here);
* a bad `sec-websocket-version`: 400 with `sec-websocket-version: 13` (RFC 6455 §4.4).
A valid request runs the app like any stream (it counts toward max_concurrent_streams), shown
as the HTTP/1.1 upgrade GET; inbound DATA feeds the WebSocket through `H2Pipe.recv`, which gives
window credit back only as bytes are consumed, and `H2Pipe.send` is the stream's flow-controlled
send path (it waits in the calling greenlet, never in the reader).
"""
from __future__ import annotations

import time
from typing import Any

from h2.errors import ErrorCodes

from greenh2.config import Config
from greenh2.errors import StreamGone
from greenh2.http2.stream import H2Stream
from greenh2.websocket import Offer, PipeClosed, Refusal, WebSocketRequest, as_upgrade_get, h2_offer
from greenh2.wsgi.environ import Headers, RequestHead


class H2Pipe:
    transport = "h2"

    def __init__(self, stream: H2Stream) -> None:
        self.stream = stream
        self.closed = False

    def accept(self, headers: Headers) -> None:
        try:
            self.stream.send_headers(200, headers, end=False)  # RFC 8441 §5: 2xx = success
        except StreamGone as exc:
            raise PipeClosed(str(exc)) from None

    def recv(self, timeout: float | None) -> bytes | None:
        stream = self.stream
        deadline = None if timeout is None else time.monotonic() + timeout
        while not stream.inbox:
            if stream.ended:
                return b""  # END_STREAM: the peer's orderly close (RFC 8441 §6)
            if stream.error:
                raise PipeClosed(stream.error)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            stream.wait_readable(left)
        data = stream.inbox.popleft()
        stream.unacked -= len(data)
        stream.session.engine.acknowledge(stream.id, len(data))  # consumed: window back
        stream.session.wake_writer()
        return data

    def send(self, data: bytes) -> None:
        try:
            self.stream.send_data(data)
        except StreamGone as exc:
            raise PipeClosed(str(exc)) from None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.stream.end()  # END_STREAM (RFC 8441 §6: the TCP FIN of RFC 6455)
        except StreamGone:
            pass


def classify(headers: list[tuple[bytes, bytes]], head: RequestHead,
             config: Config) -> Offer | Refusal | ErrorCodes | None:
    """For a CONNECT request: an Offer, a Refusal to answer, an error code to reset the stream
    with, or None for a plain CONNECT (RFC 9113 §8.5, handed to the app as before)."""
    protocol = next((v for n, v in headers if n == b":protocol"), None)
    if protocol is None:
        return None
    if not config.websocket:
        return ErrorCodes.PROTOCOL_ERROR
    return h2_offer(head, protocol.decode("latin-1"))


def screen(session: Any, stream_id: int, headers: list[tuple[bytes, bytes]],
           head: RequestHead) -> tuple[bool, Offer | None]:
    """(refused, offer) for a CONNECT request; a refused one is answered or reset here."""
    verdict = classify(headers, head, session.config)
    if isinstance(verdict, Refusal):
        refuse(session, stream_id, verdict)
        return True, None
    if isinstance(verdict, ErrorCodes):
        session.engine.reset_stream(stream_id, verdict)
        if session.engine.failure:
            raise session.engine.failure
        return True, None
    return False, verdict


def refuse(session: Any, stream_id: int, refusal: Refusal) -> None:
    """Answer a refused extended CONNECT from the reader: headers only, no handler, no wait."""
    block = [(b":status", str(refusal.status).encode())]
    block += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in refusal.headers]
    session.engine.send_headers(stream_id, block, end_stream=True)
    # RFC 9113 §8.1: the response is complete; the client need not send the tunnel's DATA.
    session.engine.reset_stream(stream_id, ErrorCodes.NO_ERROR, count=False)
    session.wake_writer()


def open_websocket(stream: H2Stream, head: RequestHead, offer: Offer, config: Config) -> WebSocketRequest:
    as_upgrade_get(head)
    request = WebSocketRequest(offer, H2Pipe(stream), config)
    head.extra.update(request.environ())
    return request
