"""`environ['wsgi.websocket']`: gevent-websocket's interface over wsproto and a `Pipe`.

Theory of operation. The handshake is lazy: the request reaches the app with this object in the
environ, and the handshake response (101 / :status 200) goes out on the first `receive()`,
`send()`, `close()` or `accept()`. An app that answers with an ordinary response never touches
it, and that response goes out as usual. Once accepted, a reader greenlet owns the receiving
side: it feeds wsproto (the only frame parser), answers pings and the closing handshake even
while the app is busy, sends keep-alive pings, and queues whole messages for `receive()`. Every
buffer is bounded: a message by `ws_max_message_size` (1009 beyond, after decompression), the
queue by count and bytes (the reader stops reading while it is full, so TCP or HTTP/2 flow
control pushes back), and sending blocks the caller at most `send_timeout`.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError

from greenh2 import observe
from greenh2.config import Config
from greenh2.errors import PeerGone
from greenh2.websocket.handshake import VERSION, Offer, response_headers
from greenh2.websocket.pipe import GuardedPipe, PipeClosed

log = logging.getLogger("greenh2")
QUEUE_MESSAGES = 64  # complete messages waiting for receive(); bytes are capped too
READ_SIZE = 65536
CONTROL_BURST, CONTROL_RATE = 100, 50.0  # pings/pongs a peer may send: burst, then per second


class WebSocketError(PeerGone):
    """Using a closed WebSocket. An OSError, like gevent-websocket's WebSocketError."""


class WebSocket:
    def __init__(self, pipe: GuardedPipe, offer: Offer, config: Config) -> None:
        self.pipe, self.offer, self.config = pipe, offer, config
        self.path, self.origin, self.version = offer.path, offer.origin or None, VERSION
        self.protocol: str | None = None  # the subprotocol chosen in accept()
        self.closed = False  # a Close was sent or received, or the pipe broke
        self.close_code: int | None = None  # the code the peer sent (1006: none)
        self.close_reason = ""
        self._conn: Any = None  # wsproto Connection, once accepted
        self._inbox: deque[str | bytes] = deque()
        self._inbox_bytes = 0
        self._arrived, self._room, self._ended = Event(), Event(), Event()
        self._lock = Semaphore()
        self._reader: gevent.Greenlet | None = None
        self._parts: list[Any] = []
        self._size = self._frames = 0
        self._going_away = False
        self._closing_since = 0.0
        self._last_rx = self._last_msg = time.monotonic()
        self._ping_sent = 0.0
        self._tokens, self._tokens_at = float(CONTROL_BURST), time.monotonic()

    # --- the gevent-websocket interface ------------------------------------------------------

    def accept(self, subprotocol: str | None = None) -> None:
        """Send the handshake response (greenh2 extension: choose a subprotocol offered by the
        client). Called by the first receive/send/close; a no-op once accepted."""
        if self._conn is not None:
            return
        cfg = self.config
        headers, extensions = response_headers(self.offer, subprotocol, cfg.ws_compression,
                                               cfg.ws_max_message_size)
        try:
            with gevent.Timeout(cfg.ws_handshake_timeout, PipeClosed("handshake response timed out")):
                self.pipe.accept(headers)
        except PipeClosed:
            self.closed = True
            self._ended.set()
            raise
        self.protocol = subprotocol
        self._conn = Connection(ConnectionType.SERVER, extensions=list(extensions))
        self._reader = gevent.spawn(self._read_loop)
        observe.OBSERVER.event("websocket_opened", protocol=self.pipe.transport)
        if self._going_away:
            self.close(1001, "server shutting down")

    def receive(self) -> str | bytes | None:
        """The next message (str for text, bytes for binary); None once the WebSocket closed."""
        self._ensure_accepted()
        while True:
            if self._inbox:
                message = self._inbox.popleft()
                self._inbox_bytes -= len(message)
                self._room.set()
                return message
            if self.closed or self._ended.is_set():
                return None
            self._arrived.clear()
            self._arrived.wait()

    read_message = receive  # gevent-websocket's other name

    def send(self, message: str | bytes | bytearray | memoryview, binary: bool | None = None) -> None:
        """A text (str) or binary (bytes) message; `binary` forces the frame type."""
        self._ensure_accepted()
        if binary is None:
            binary = not isinstance(message, str)
        if binary:
            data: str | bytes = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        else:
            data = message if isinstance(message, str) else bytes(message).decode("utf-8")
        event = BytesMessage(data=data) if isinstance(data, bytes) else TextMessage(data=data)
        if self.closed:
            raise WebSocketError("the WebSocket is closed")
        self._emit(event)
        self._last_msg = time.monotonic()

    send_frame = send

    def close(self, code: int = 1000, reason: str | bytes = "") -> None:
        """Start the closing handshake (RFC 6455 §7.1.2); receive() returns None from now on."""
        self._ensure_accepted()
        if self.closed:
            return
        self.closed = True
        self._closing_since = time.monotonic()
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason
        try:
            self._emit(CloseConnection(code=code, reason=text or None))
        except WebSocketError:
            self.pipe.close()
        self._arrived.set()
        self._room.set()  # a reader paused on a full queue goes on to read the Close reply

    # --- server side ---------------------------------------------------------------------------

    @property
    def accepted(self) -> bool:
        return self._conn is not None

    def going_away(self) -> None:
        """Graceful stop: close with 1001 Going Away (RFC 6455 §7.4.1), without blocking."""
        self._going_away = True
        if self._conn is not None and not self.closed:
            gevent.spawn(self._close_quietly, 1001, "server shutting down")

    def finish(self) -> None:
        """The app returned: close if it did not, wait (bounded) for the closing handshake."""
        if self._conn is None:
            return
        self._close_quietly(1000, "")
        if self._reader is not None:
            if not self._ended.is_set():  # the closing handshake is under way: bounded wait
                self._ended.wait(self.config.ws_handshake_timeout + 1.0)
            self._reader.kill(block=True, timeout=1.0)
        self.pipe.close()
        observe.OBSERVER.event("websocket_closed", protocol=self.pipe.transport,
                       code=self.close_code if self.close_code is not None else 1006)

    def _close_quietly(self, code: int, reason: str) -> None:
        try:
            self.close(code, reason)
        except PeerGone:
            pass

    def _ensure_accepted(self) -> None:
        if self._conn is None:
            if self.closed:
                raise WebSocketError("the WebSocket handshake failed")
            self.accept()

    def _emit(self, event: Any) -> None:
        """Serialize and send under one lock: the reader's pongs and the app's messages
        interleave frame by frame, in order."""
        with self._lock:
            try:
                data = self._conn.send(event)
            except LocalProtocolError as exc:
                raise WebSocketError(f"cannot send: {exc}") from None
            try:
                self.pipe.send(data)
            except PipeClosed as exc:
                self._broken(str(exc))
                raise WebSocketError(str(exc)) from None

    def _broken(self, why: str) -> None:
        log.debug("WebSocket %s lost: %s", self.path, why)
        self.closed = True
        if self.close_code is None:
            self.close_code = 1006
        self._ended.set()
        self._arrived.set()

    # --- the reader greenlet -------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            while not self._ended.is_set():
                data = self.pipe.recv(self._timer())
                if data is None:
                    self._on_timer()
                    continue
                if not data:
                    self._broken("peer closed the stream")
                    return
                self._last_rx = time.monotonic()
                self._ping_sent = 0.0
                self._conn.receive_data(data)
                for event in self._conn.events():
                    self._on_event(event)
                    if self._ended.is_set():
                        return
                self._wait_room()
        except (PeerGone, LocalProtocolError) as exc:
            self._broken(str(exc))
        finally:
            self._ended.set()
            self._arrived.set()

    def _timer(self) -> float | None:
        """Seconds until the next timer: closing handshake, pong, ping, idle."""
        cfg, now = self.config, time.monotonic()
        if self._closing_since:
            return max(self._closing_since + cfg.ws_handshake_timeout - now, 0.0)
        due: list[float] = []
        if self._ping_sent:
            due.append(self._ping_sent + cfg.ws_pong_timeout)
        elif cfg.ws_ping_interval:
            due.append(self._last_rx + cfg.ws_ping_interval)
        if cfg.ws_idle_timeout:
            due.append(self._last_msg + cfg.ws_idle_timeout)
        return max(min(due) - now, 0.0) if due else None

    def _on_timer(self) -> None:
        cfg, now = self.config, time.monotonic()
        if self._closing_since:
            if now >= self._closing_since + cfg.ws_handshake_timeout:
                self._broken("no Close reply in time")
            return
        if self._ping_sent and now >= self._ping_sent + cfg.ws_pong_timeout:
            self._fail(1011, "ping timeout")
            self._broken("ping timeout")
            return
        if cfg.ws_idle_timeout and now >= self._last_msg + cfg.ws_idle_timeout:
            self._close_quietly(1001, "idle timeout")
            return
        if cfg.ws_ping_interval and not self._ping_sent and now >= self._last_rx + cfg.ws_ping_interval:
            self._ping_sent = now
            self._emit(Ping(payload=b"greenh2"))

    def _on_event(self, event: Any) -> None:
        kind = type(event)
        if kind is TextMessage or kind is BytesMessage:
            self._on_data(event)
        elif kind is Ping:
            self._control()
            if self._conn.state is ConnectionState.OPEN:  # not once a Close went out (§5.5.1)
                self._emit(event.response())
        elif kind is Pong:
            self._control()
        elif kind is CloseConnection:
            self._on_close(event)

    def _control(self) -> None:
        """A token bucket for pings and pongs: a control-frame flood is a policy violation."""
        now = time.monotonic()
        self._tokens = min(CONTROL_BURST, self._tokens + (now - self._tokens_at) * CONTROL_RATE)
        self._tokens_at = now
        self._tokens -= 1
        if self._tokens < 0:
            self._fail(1008, "control frame flood")

    def _on_data(self, event: Message) -> None:
        data = event.data
        size = len(data)
        room = self.config.ws_max_message_size - self._size
        if isinstance(data, str) and size * 4 > room:
            size = len(data.encode("utf-8"))  # count UTF-8 bytes only near the limit
        self._size += size
        self._frames += 1
        # An endless run of tiny or empty fragments costs per frame: a message may have at most
        # one fragment per 256 bytes of the limit (and at least 64).
        if self._size > self.config.ws_max_message_size or \
                self._frames > max(64, self.config.ws_max_message_size // 256):
            self._fail(1009, "message too big")
            return
        if data:
            self._parts.append(data)
        if event.message_finished:
            empty: str | bytes = "" if isinstance(data, str) else b""
            message = empty.join(self._parts) if len(self._parts) != 1 else self._parts[0]
            if isinstance(message, bytearray):
                message = bytes(message)
            self._parts, self._size, self._frames = [], 0, 0
            self._inbox.append(message)
            self._inbox_bytes += len(message)
            self._last_msg = time.monotonic()
            self._arrived.set()

    def _on_close(self, event: CloseConnection) -> None:
        state = self._conn.state
        if state is ConnectionState.REMOTE_CLOSING:  # the peer started the closing handshake
            self.close_code, self.close_reason = event.code, event.reason or ""
            self.closed = True
            self._emit(event.response())
            self._ended.set()
            self.pipe.close()
        elif state is ConnectionState.CLOSED:  # the peer's reply to our Close
            self.close_code, self.close_reason = event.code, event.reason or ""
            self._ended.set()
            self.pipe.close()
        else:  # wsproto found a protocol error (RFC 6455 §7.1.7: fail the connection)
            self._fail(int(event.code), event.reason or "protocol error")

    def _fail(self, code: int, reason: str) -> None:
        """Fail the WebSocket connection (RFC 6455 §7.1.7): send Close, stop processing, drain
        what the peer still sends for a moment (so the Close is not lost to a TCP reset), end."""
        log.debug("WebSocket %s failed: %d %s", self.path, code, reason)
        self._parts, self._size = [], 0
        if not self.closed:
            self.closed = True
            self.close_code = code
            try:
                self._emit(CloseConnection(code=code, reason=reason))
            except WebSocketError:
                pass
        self._arrived.set()
        self._drain(min(self.config.ws_handshake_timeout, 2.0))
        self._ended.set()
        self.pipe.close()

    def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self.pipe.recv(left):
                    return
        except PeerGone:
            return

    def _wait_room(self) -> None:
        """Backpressure: stop reading while the app has this much to receive."""
        while len(self._inbox) >= QUEUE_MESSAGES or self._inbox_bytes >= self.config.ws_max_message_size:
            if self._ended.is_set() or self.closed:
                return
            self._room.clear()
            self._room.wait()
