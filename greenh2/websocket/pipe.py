"""The byte pipe a WebSocket runs over, and the guard the server keeps around it.

The WebSocket layer never touches a socket or an HTTP/2 stream: it talks to a `Pipe`, which
`greenh2.http1` implements over the connection's transport after `101 Switching Protocols`
(RFC 6455 §4) and `greenh2.http2` implements over one extended-CONNECT stream (RFC 8441 §5),
where sending obeys the stream's flow control and reading gives window credit back. The same
WebSocket code therefore runs over both transports.

`GuardedPipe` is what the application may see (``environ['greenh2.websocket_pipe']``): it makes
sure the handshake response goes out at most once, and never after an ordinary response started.
"""
from __future__ import annotations

from typing import Protocol

from greenh2.errors import PeerGone

Headers = list[tuple[str, str]]


class PipeClosed(PeerGone):
    """The pipe is gone (peer closed, reset, stopped reading past send_timeout)."""


class Pipe(Protocol):
    """What a transport offers a WebSocket. Only one greenlet reads and one writes at a time."""

    transport: str  # "http/1.1" or "h2"

    def accept(self, headers: Headers) -> None:
        """Send the success response: `101 Switching Protocols` on HTTP/1.1 (the Upgrade and
        Connection fields are added here), `:status 200` on HTTP/2. Raises PipeClosed."""

    def recv(self, timeout: float | None) -> bytes | None:
        """The next received bytes; b"" once the peer ended its side; None after `timeout`
        seconds without data. Raises PipeClosed."""

    def send(self, data: bytes) -> None:
        """Send all of `data`, waiting (at most send_timeout) for the peer to take it."""

    def close(self) -> None:
        """End our direction (HTTP/2: END_STREAM); the connection or stream goes when the
        request's handler returns. Idempotent."""


class GuardedPipe:
    """A Pipe that knows whether the handshake response or an ordinary response went out."""

    def __init__(self, inner: Pipe) -> None:
        self.inner = inner
        self.transport = inner.transport
        self.accepted = False  # the handshake response is out: the app owns the byte stream
        self.responded = False  # an ordinary HTTP response started: no handshake any more

    def accept(self, headers: Headers) -> None:
        if self.accepted:
            raise PipeClosed("the WebSocket handshake response was sent already")
        if self.responded:
            raise PipeClosed("an ordinary response was started; cannot switch to WebSocket")
        self.accepted = True
        self.inner.accept(headers)

    def recv(self, timeout: float | None) -> bytes | None:
        return self.inner.recv(timeout)

    def send(self, data: bytes) -> None:
        self.inner.send(data)

    def close(self) -> None:
        self.inner.close()
