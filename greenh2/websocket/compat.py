"""flask-sock / simple-websocket compatibility: a socket-like object over the WebSocket `Pipe`.

simple-websocket's `Server` does not use `environ['wsgi.websocket']`: it takes the raw socket
from the environ (`werkzeug.socket` first), runs the RFC 6455 handshake itself with its own
wsproto (it feeds wsproto a GET rebuilt from the `HTTP_*` keys and writes the `101` response
bytes to the socket), then reads and writes frames on that socket from a background thread
(a greenlet under gevent). flask-sock then returns an ordinary response the server must drop.

`PipeSocket` is that socket, for both transports, on top of the core's `Pipe`
(greenh2/websocket/pipe.py), so no WebSocket logic is duplicated here: the only translation is
the handshake response. The HTTP/1.1 `101 Switching Protocols` head simple-websocket writes is
parsed and handed to `Pipe.accept()`, which sends `101` on HTTP/1.1 and `:status 200` on an
RFC 8441 CONNECT stream (§5: no Sec-WebSocket-Accept there); every later byte is a frame and
goes to `Pipe.send()` (DATA on HTTP/2, under the stream's flow control). Once accepted, the pipe
records that the app owns the byte stream and the server writes no response of its own.

It is published as `environ['werkzeug.socket']` (the key simple-websocket looks for first; its
"werkzeug" mode makes flask-sock return a plain empty response after the WebSocket ends, which
the server then drops) only on WebSocket handshake requests (`upgrade.WebSocketRequest`).

The server keeps three duties towards it: a graceful stop writes a 1001 Close between
simple-websocket's frames (`going_away`); when the app returns, simple-websocket's thread gets
`ws_handshake_timeout` to finish the closing handshake before the pipe ends (`finish`), so an
HTTP/2 stream ends with END_STREAM rather than a reset; and `fileno()` gives simple-websocket's
`ping_interval` selector a descriptor that polls readable while received bytes wait (`Doorbell`).
"""
from __future__ import annotations

import os
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from wsproto.frame_protocol import FrameProtocol

from greenh2.websocket.pipe import PipeClosed

Headers = list[tuple[str, str]]
ENVIRON_KEY = "werkzeug.socket"
_HEAD_MAX = 16384  # a handshake response head larger than this is not one simple-websocket writes
# On HTTP/1.1 the 101 keeps every field simple-websocket wrote; RFC 8441 §5 has no Upgrade,
# Connection (connection-specific, RFC 9113 §8.2.2) or Sec-WebSocket-Accept.
_DROP = {"http/1.1": frozenset(), "h2": frozenset(("upgrade", "connection", "sec-websocket-accept"))}


class HandshakeError(PipeClosed):
    """The app wrote something other than a `101 Switching Protocols` head."""


def parse_response_head(head: bytes) -> tuple[int, Headers]:
    """`HTTP/1.1 101 ...\\r\\nName: value\\r\\n...` (without the blank line) -> status, headers
    with lower-case names (RFC 9112 §4, §5)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HandshakeError(f"not an HTTP/1.1 response head: {lines[0][:80]!r}")
    headers: Headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(f"bad header line in the handshake response: {line[:80]!r}")
        headers.append((name.lower(), value.strip()))
    return int(parts[1]), headers


class PipeSocket:
    """The subset of a socket simple-websocket uses (`recv`, `send`, `sendall`, `close`,
    `fileno`), over one WebSocket `Pipe`. simple-websocket reads in its thread (a greenlet) and
    sends from both that thread and the app: sends are serialized here, frame by frame."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.head = bytearray()  # the handshake response, until its blank line
        self.accepted = False
        self.going = False  # graceful stop: our 1001 Close went out, nothing more is sent
        self.stopping = False  # graceful stop began (before the handshake, too)
        self.closed = Event()  # simple-websocket closed its socket (its thread has ended)
        self.inbox = b""
        self.lock = Semaphore()
        self.bell: Doorbell | None = None

    # --- writing ------------------------------------------------------------------------------

    def send(self, data: bytes) -> int:
        with self.lock:
            if self.going:
                return len(data)  # RFC 6455 §5.5.1: nothing after our Close
            if self.accepted:
                self.pipe.send(bytes(data))
            else:
                self._handshake(data)
        return len(data)

    sendall = send

    def _handshake(self, data: bytes) -> None:
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > _HEAD_MAX:
                raise HandshakeError("handshake response head too large")
            return
        status, headers = parse_response_head(bytes(self.head[:end]))
        rest = bytes(self.head[end + 4:])
        self.head.clear()
        if status != 101:
            raise HandshakeError(f"the app answered the WebSocket handshake with {status}")
        drop = _DROP[self.pipe.transport]
        self.pipe.accept([(n, v) for n, v in headers if n not in drop])
        self.accepted = True
        if rest:  # frames written together with the head
            self.pipe.send(rest)
        if self.stopping:  # the stop began before the handshake: the 1001 follows it
            gevent.spawn(self._send_going_away)

    # --- reading ------------------------------------------------------------------------------

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes; b"" once the peer ended its side (what a socket says at EOF)."""
        if self.bell is not None:
            return self.bell.recv(size)
        if not self.inbox:
            data = read_pipe(self.pipe)
            if not data:
                return b""
            self.inbox = data
        out, self.inbox = self.inbox[:size], self.inbox[size:]
        return out

    def fileno(self) -> int:
        """A descriptor that polls readable while received bytes wait (simple-websocket's
        `ping_interval` selects on the socket before reading). Made on first use."""
        if self.bell is None:
            self.bell = Doorbell(self.pipe, self.inbox)
            self.inbox = b""
        return self.bell.fd

    # --- ending -------------------------------------------------------------------------------

    def close(self) -> None:
        self.closed.set()
        if self.bell is not None:
            self.bell.close()
        self.pipe.close()

    def shutdown(self, how: int = 2) -> None:
        self.pipe.close()

    def going_away(self) -> None:
        """Graceful stop (RFC 6455 §7.4.1): a 1001 Close in simple-websocket's place, written
        between its frames; the peer's Close reply ends simple-websocket's receive loop, so
        the app sees the close, not an error. Never blocks the caller; before the handshake
        response, the 1001 follows it (`_handshake`)."""
        self.stopping = True
        if self.accepted and not self.going and not self.closed.is_set():
            gevent.spawn(self._send_going_away)

    def _send_going_away(self) -> None:
        frame = FrameProtocol(client=False, extensions=[]).close(1001, "server shutting down")
        with self.lock:
            if self.going:
                return
            self.going = True
            try:
                self.pipe.send(frame)
            except PipeClosed:
                pass

    def finish(self, timeout: float) -> None:
        """The app returned: give simple-websocket's thread `timeout` seconds to finish the
        closing handshake and close its socket, then end the pipe either way."""
        if self.accepted:
            self.closed.wait(timeout)
            self.close()


def read_pipe(pipe: Any) -> bytes:
    """The pipe's next bytes, waiting as long as it takes (None is only the pipe's timeout)."""
    data = None
    while data is None:
        data = pipe.recv(None)
    return bytes(data)


class Doorbell:
    """Readiness for selectors: a pump greenlet reads the pipe one chunk at a time and rings
    an OS pipe while that chunk waits; `recv` empties it and asks the pump for the next one."""

    def __init__(self, pipe: Any, pending: bytes) -> None:
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.fd = self.rfd
        self.pipe, self.data, self.eof = pipe, pending, False
        self.ready, self.want = Event(), Event()
        if pending:
            self._ring()
        else:
            self.want.set()
        self.pump = gevent.spawn(self._pump)

    def _ring(self) -> None:
        self.ready.set()
        os.write(self.wfd, b"!")

    def _pump(self) -> None:
        while not self.eof:
            self.want.wait()
            self.want.clear()
            try:
                data = read_pipe(self.pipe)
            except PipeClosed:
                data = b""
            self.data, self.eof = data, not data
            self._ring()

    def recv(self, size: int) -> bytes:
        self.ready.wait()
        out, self.data = self.data[:size], self.data[size:]
        if not self.data and not self.eof:  # consumed: quiet the bell, fetch the next chunk
            self.ready.clear()
            try:
                os.read(self.rfd, 64)
            except BlockingIOError:
                pass
            self.want.set()
        return out

    def close(self) -> None:
        self.pump.kill(block=False)
        self.data, self.eof = b"", True
        self.ready.set()  # a recv() still waiting (the app returned first) sees the end
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.rfd = self.wfd = -1
