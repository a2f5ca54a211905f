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
the server then drops) only on WebSocket handshake requests.
"""
from __future__ import annotations

from typing import Any

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
    """The subset of a socket simple-websocket uses (`recv`, `send`, `sendall`, `close`), over
    one WebSocket `Pipe`. One greenlet reads (simple-websocket's thread) while others send."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.head = bytearray()  # the handshake response, until its blank line
        self.accepted = False
        self.inbox = b""

    # --- writing ------------------------------------------------------------------------------

    def send(self, data: bytes) -> int:
        if self.accepted:
            self.pipe.send(bytes(data))
            return len(data)
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > _HEAD_MAX:
                raise HandshakeError("handshake response head too large")
            return len(data)
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
        return len(data)

    sendall = send

    # --- reading ------------------------------------------------------------------------------

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes; b"" once the peer ended its side (what a socket says at EOF)."""
        if not self.inbox:
            data = None
            while data is None:  # None: the pipe's wait timed out; a socket keeps waiting
                data = self.pipe.recv(None)
            if not data:
                return b""
            self.inbox = data
        out, self.inbox = self.inbox[:size], self.inbox[size:]
        return out

    def close(self) -> None:
        self.pipe.close()

    def shutdown(self, how: int = 2) -> None:
        self.pipe.close()


def environ(pipe: Any) -> dict[str, Any]:
    """The environ entry simple-websocket (flask-sock) takes its socket from."""
    return {ENVIRON_KEY: PipeSocket(pipe)}
