"""One WebSocket request on its way through the server, the same for both transports.

`http1` and `http2` recognise a handshake (`handshake.h1_offer` / `h2_offer`), wrap their
transport in a `Pipe`, and build a `WebSocketRequest`. It adds the environ entries, wraps the
response `Sink` so that nothing of an ordinary WSGI response leaks onto the wire once the
handshake went out, and, after the app returned, finishes the WebSocket (close 1000 if the app
did not, bounded wait for the closing handshake). The transport's session keeps the open
requests so that a graceful stop can close each with 1001 (`going_away`).
"""
from __future__ import annotations

from typing import Any

from greenh2.config import Config
from greenh2.websocket import compat
from greenh2.websocket.handshake import VERSION, Offer
from greenh2.websocket.pipe import GuardedPipe, Pipe
from greenh2.websocket.socket import WebSocket
from greenh2.wsgi.environ import Headers
from greenh2.wsgi.response import Sink


class WebSocketRequest:
    def __init__(self, offer: Offer, pipe: Pipe, config: Config) -> None:
        self.pipe = GuardedPipe(pipe)
        self.websocket = WebSocket(self.pipe, offer, config)
        self.socket = compat.PipeSocket(self.pipe)  # werkzeug.socket, for flask-sock (compat.py)
        self.config = config

    @property
    def taken_over(self) -> bool:
        """The handshake response went out: the connection or stream is the app's byte pipe."""
        return self.pipe.accepted

    def environ(self) -> dict[str, Any]:
        """Entries added to the request's environ (README: WebSocket)."""
        return {"wsgi.websocket": self.websocket, "wsgi.websocket_version": VERSION,
                "greenh2.websocket_pipe": self.pipe, compat.ENVIRON_KEY: self.socket}

    def wrap_sink(self, sink: Sink) -> "TakeoverSink":
        return TakeoverSink(sink, self.pipe)

    def going_away(self) -> None:
        self.websocket.going_away()
        self.socket.going_away()

    def finish(self) -> None:
        self.websocket.finish()
        self.socket.finish(self.config.ws_handshake_timeout)


class TakeoverSink:
    """A Sink that passes an ordinary response through until the WebSocket handshake went
    out, and drops everything after it (the app's WSGI return value after a WebSocket
    session, typically [] or a framework's empty response)."""

    def __init__(self, inner: Sink, pipe: GuardedPipe) -> None:
        self.inner, self.pipe = inner, pipe

    @property
    def detached(self) -> int:
        """The status that went out with the handshake (101 / 200); 0 while not taken over."""
        if not self.pipe.accepted:
            return 0
        return 101 if self.pipe.transport == "http/1.1" else 200

    def informational(self, status: int, headers: Headers) -> None:
        if not self.pipe.accepted:
            self.inner.informational(status, headers)

    def start(self, status: int, reason: str, headers: Headers, end: bool) -> None:
        if not self.pipe.accepted:
            self.pipe.responded = True
            self.inner.start(status, reason, headers, end)

    def write(self, data: bytes, end: bool = False) -> None:
        if not self.pipe.accepted:
            self.inner.write(data, end)

    def finish(self) -> None:
        if not self.pipe.accepted:
            self.inner.finish()

    def trailers(self, headers: Headers) -> None:
        if not self.pipe.accepted:
            self.inner.trailers(headers)

    def abort(self) -> None:
        if not self.pipe.accepted:
            self.inner.abort()
