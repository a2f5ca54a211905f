"""Application-side state of one HTTP/2 stream, shared by its handler greenlet and the reader.

h2 keeps the protocol state machine; this keeps what h2 does not: the request body chunks not yet
read by the app, and the events a handler waits on. Only the handler greenlet ever waits here
(for body bytes, or for send window): the reader only appends and wakes, so flow control can
never deadlock the connection (the trap in h2's own gevent example).

`max_body_size` is enforced as DATA arrives: bytes past it are dropped and their connection
window given back at once (the stream window is not, so the client stops sending), the app's
next read past the limit raises RequestBodyTooLarge, and a response already started is cut
with RST_STREAM(CANCEL). CANCEL (RFC 9113 §7: "the stream is no longer needed"), because the
response is incomplete and the client must not take it for one (NO_ERROR, §8.1, follows a
*complete* response); not REFUSED_STREAM, which says the request was not processed and may be
retried as it is (§8.7), which the same body never can; not PROTOCOL_ERROR or
ENHANCE_YOUR_CALM: a large body breaks no rule and is no flood.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from gevent.event import Event
from h2.errors import ErrorCodes
from h2.exceptions import FlowControlError, ProtocolError, StreamClosedError

from greenh2 import observe
from greenh2.config import Config
from greenh2.errors import StreamGone, body_too_large
from greenh2.http2.cancel import CancelSignal
from greenh2.http2.engine import Engine
from greenh2.pace import Activity, Pace
from greenh2.wsgi.environ import Headers

_HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "transfer-encoding",
                         "upgrade"))


_FIELD_NAMES: dict[str, bytes] = {}  # WSGI header name -> HTTP/2 field name (b"": dropped)


def _field_name(name: str) -> bytes:
    lname = name.lower()
    wire = b"" if lname in _HOP_BY_HOP else lname.encode("latin-1")
    if len(_FIELD_NAMES) < 512:  # names repeat across responses; bounded for odd apps
        _FIELD_NAMES[name] = wire
    return wire


class StreamOwner(Protocol):
    """What a stream uses of its connection (`H2Session`): the engine, the config, the writer."""
    engine: Engine
    config: Config
    activity: Activity

    def wake_writer(self) -> None: ...
    def wait_output_room(self) -> None: ...


class H2Stream:
    __slots__ = (
        "cancelled",
        "ended",
        "error",
        "greenlet",
        "id",
        "inbox",
        "pulled",
        "readable",
        "received",
        "recv_pace",
        "request_done",
        "responded",
        "response_ended",
        "send_pace",
        "session",
        "too_large",
        "trailers",
        "unacked",
        "writable",
    )

    def __init__(self, session: StreamOwner, stream_id: int) -> None:
        self.session = session
        self.id = stream_id
        self.inbox: deque[bytes] = deque()
        self.ended = False
        self.error: str | None = None
        # Made only when the handler has to wait (most requests never do): one object less each.
        self.readable: Event | None = None
        self.writable: Event | None = None
        self.unacked = 0  # flow-controlled bytes received, not yet given back
        self.greenlet: Any = None  # the handler greenlet, once spawned
        self.request_done = False
        self.trailers: Headers = []  # the request's trailer section, if one came
        self.received = 0  # body bytes received (counted only under max_body_size)
        self.too_large = False  # the body went past max_body_size
        self.responded = False  # the final response head went out
        self.response_ended = False  # ... and END_STREAM with it or after it: complete
        self.cancelled = CancelSignal()  # environ['greenh2.cancelled']
        # min_request_rate / min_response_rate, made at the first wait for the client
        self.recv_pace: Pace | None = None
        self.send_pace: Pace | None = None
        self.pulled = 0  # body bytes the app has read

    # --- reader side (never blocks) ----------------------------------------------------------

    def on_data(self, data: bytes, flow_length: int) -> None:
        padding = flow_length - len(data)
        if padding:  # padding is never read by the app: credit it back now
            self.session.engine.acknowledge(self.id, padding)
        if data:
            cap = self.session.config.max_body_size
            if cap:
                self.received += len(data)
                if self.received > cap:
                    data = self._over_cap(data, cap)
            if data:
                self.inbox.append(data)
                self.unacked += len(data)
        if self.readable is not None:
            self.readable.set()

    def _over_cap(self, data: bytes, cap: int) -> bytes:
        """Keep what fits under max_body_size; the rest is dropped (see the module docstring)."""
        keep = max(len(data) - (self.received - cap), 0)
        self.session.engine.release_connection_window(len(data) - keep)
        if not self.too_large:
            self.too_large = True
            observe.OBSERVER.limit_tripped("body_size")
            if self.responded and not self.response_ended:  # complete: _stream_finished's NO_ERROR
                self.reset(ErrorCodes.CANCEL)
                self.on_gone("request body over max_body_size")
        return data[:keep]

    def on_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        """A trailing HEADERS with END_STREAM (RFC 9113 §8.1); h2 has refused pseudo-headers
        and connection-specific fields in it (malformed: stream error PROTOCOL_ERROR)."""
        self.trailers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]

    def on_end(self) -> None:
        self.ended = True
        if self.readable is not None:
            self.readable.set()

    def on_gone(self, why: str) -> None:
        """Reset by the peer, or the connection is going: the handler's next I/O raises."""
        if self.error is None:
            self.error = why
        if self.readable is not None:
            self.readable.set()
        self.on_window()

    def on_window(self) -> None:
        """The send window may have opened (WINDOW_UPDATE, SETTINGS) or the stream is gone."""
        if self.writable is not None:
            self.writable.set()

    # --- handler side: request body ----------------------------------------------------------

    def wait_readable(self, timeout: float | None) -> bool:
        """Wait (in the handler greenlet) until the reader appends body, ends or breaks the
        stream; False on timeout. The Event is made only when a handler has to wait."""
        if self.readable is None:
            self.readable = Event()
        self.readable.clear()
        return bool(self.readable.wait(timeout))

    def pull(self, size: int) -> bytes:
        """wsgi.input's source: the next chunk (at most `size` bytes); b"" at end of body."""
        while not self.inbox:
            if self.too_large:
                raise body_too_large(self.session.config.max_body_size)
            if self.ended:
                return b""
            if self.error:
                raise StreamGone(self.error)
            self._wait_body()
        data = self.inbox.popleft()
        if len(data) > size:
            data, rest = data[:size], data[size:]
            self.inbox.appendleft(rest)
        self.pulled += len(data)
        if self.recv_pace is not None:
            self.recv_pace.moved(len(data))
        self.unacked -= len(data)
        self.session.engine.acknowledge(self.id, len(data))
        self.session.wake_writer()
        return data

    def _wait_body(self) -> None:
        """The app wants body the client has not sent: wait at most body_timeout, and within
        the client's min_request_rate credit."""
        cfg = self.session.config
        pace = self.recv_pace
        if pace is None:
            pace = self.recv_pace = Pace(cfg.min_request_rate, cfg.min_rate_grace,
                                         activity=getattr(self.session, "activity", None))
            pace.moved(self.pulled)
        pace.begin()
        arrived = self.wait_readable(pace.allowance(cfg.body_timeout))
        pace.end()
        if arrived:
            return
        slow = pace.exhausted()
        observe.OBSERVER.limit_tripped("request_rate" if slow else "body_timeout")
        self.reset(ErrorCodes.CANCEL)
        raise StreamGone("request body below min_request_rate" if slow else "request body timeout")

    def request_trailers(self) -> Headers | None:
        """The request trailers once the app has drained the body; None before."""
        if not self.ended or self.inbox:
            return None
        return self.trailers

    # --- handler side: response --------------------------------------------------------------

    def _check(self) -> None:
        if self.error:
            raise StreamGone(self.error)

    def send_headers(self, status: int, headers: Headers, end: bool) -> None:
        self._send_block([(b":status", str(status).encode())], headers, end)
        if status >= 200:
            self.responded = True

    def send_trailers(self, headers: Headers) -> None:
        """The trailer section: a HEADERS frame with END_STREAM after the last DATA (RFC 9113
        §8.1). The WSGI layer has refused pseudo-headers and connection-specific fields."""
        self._send_block([], headers, True)

    def _send_block(self, block: list[tuple[bytes, bytes]], headers: Headers, end: bool) -> None:
        self._check()
        names = _FIELD_NAMES
        for name, value in headers:
            wire = names.get(name)
            if wire is None:
                wire = _field_name(name)
            if wire:  # b"": RFC 9113 §8.2.2, connection-specific fields are malformed in HTTP/2
                block.append((wire, value.encode("latin-1")))
        session = self.session
        session.wait_output_room()
        try:
            session.engine.send_headers(self.id, block, end_stream=end)
        except (StreamClosedError, ProtocolError) as exc:
            raise StreamGone(f"cannot send headers: {exc}") from None
        self.response_ended = end
        session.wake_writer()

    def send_data(self, data: bytes, end: bool = False) -> None:
        session, engine = self.session, self.session.engine
        view = memoryview(data)
        waited = False
        while True:
            self._check()
            session.wait_output_room()
            try:
                sent = engine.send_data(self.id, view, end_stream=end)
            except (StreamClosedError, ProtocolError, FlowControlError) as exc:
                raise StreamGone(f"cannot send data: {exc}") from None
            if sent:
                session.wake_writer()
                view = view[sent:]
                if waited and self.send_pace is not None:
                    self.send_pace.moved(sent)  # window the client opened while we waited
            if not view:
                self.response_ended = end
                return
            waited = self._wait_for_window()

    def _wait_for_window(self) -> bool:
        """Flow control (RFC 9113 §5.2): wait in this greenlet until the peer opens the window,
        at most send_timeout and within the client's min_response_rate credit (a tiny window
        opened a few bytes at a time is a slow read). True if it waited."""
        if self.writable is None:
            self.writable = Event()
        self.writable.clear()
        self._check()  # gone while this greenlet was elsewhere: do not wait for a window
        if self.session.engine.send_window(self.id) > 0:
            return False
        cfg = self.session.config
        pace = self.send_pace
        if pace is None:
            pace = self.send_pace = Pace(cfg.min_response_rate, cfg.min_rate_grace,
                                         activity=getattr(self.session, "activity", None))
        pace.begin()
        opened = self.writable.wait(pace.allowance(cfg.send_timeout))
        pace.end()
        if opened:
            return True
        slow = pace.exhausted()
        observe.OBSERVER.limit_tripped("response_rate" if slow else "send_timeout")
        if slow and pace.activity is not None:
            pace.activity.slow = True  # first in line when the connection cap sheds
        self.reset(ErrorCodes.CANCEL)
        raise StreamGone("client takes the response below min_response_rate" if slow
                         else "send window stayed closed (data dribble)")

    def end(self) -> None:
        self.send_data(b"", end=True)

    def reset(self, code: ErrorCodes, count: bool = True) -> None:
        if self.error is None:
            self.error = f"reset by server ({code.name})"
        self.session.engine.reset_stream(self.id, code, count)
        self.session.wake_writer()
