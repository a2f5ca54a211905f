"""One HTTP/2 connection on gevent: a reader greenlet, a writer greenlet, a greenlet per stream.

The reader feeds the sans-IO `Engine` and dispatches its events without ever waiting for flow
control or running application code. Handlers call the engine (never blocking inside it) and
wake the writer, which drains every byte queued since its last turn with one `sendall`, so a
burst of responses leaves in one write. `serve()` returns only after every stream greenlet is
finished or killed: gevent closes the socket when the connection handler returns.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import h2.events as ev
from gevent.event import Event
from h2.errors import ErrorCodes

from greenh2 import observe
from greenh2.config import Config
from greenh2.errors import StreamCancelled, StreamGone
from greenh2.http2.cancel import cancel
from greenh2.http2.drain import Drain, teardown
from greenh2.http2.drain import shed as shed_connection
from greenh2.http2.engine import ConnectionEnd, Engine, PeerGoaway
from greenh2.http2.extconnect import open_websocket, screen
from greenh2.http2.sink import H2Sink
from greenh2.http2.starter import HEADERS_PER_TURN, STARTER
from greenh2.http2.stream import H2Stream
from greenh2.pace import BUSY, IDLE, Activity, Pace
from greenh2.websocket import Offer, WebSocketRequest
from greenh2.wsgi.environ import ConnInfo, RequestHead
from greenh2.wsgi.response import Sink

log = logging.getLogger("greenh2")
READ_SIZE = 262144
END_GRACE = 1.0  # seconds a finished stream waits for the client's END_STREAM before RST_STREAM
SMALL_BODY = 65536  # unsent declared body bytes a finished stream still waits for (END_GRACE)
OUTPUT_HIGH_WATER = 1 << 20  # stop producing (and reading) while this much output is queued

# handler(head, conninfo, body, sink) runs one request; see dispatch.Dispatcher.
Handler = Callable[[RequestHead, ConnInfo, Callable[[int], bytes], Sink], None]


class H2Session:
    def __init__(self, transport: Any, config: Config, handler: Handler, conninfo: ConnInfo,
                 preread: bytes = b"", upgrade: tuple[RequestHead, bytes, bytes] | None = None,
                 activity: Activity | None = None) -> None:
        self.transport = transport
        self.config = config
        self.handler = handler
        self.conninfo = conninfo
        self.engine = Engine(config, headers_per_receive=HEADERS_PER_TURN)
        self.streams: dict[int, H2Stream] = {}
        self.websockets: dict[int, WebSocketRequest] = {}  # RFC 8441 streams, for going_away
        self.live = 0  # handler greenlets that have not returned (rapid reset, MadeYouReset)
        self.preread = preread
        self.upgrade = upgrade
        self.draining = False  # final GOAWAY sent (or received): no new streams
        self.stopping = False  # shutdown() called
        self.started = False
        self.drain = Drain(self)  # the graceful stop sequence (drain.py)
        self.broken = False
        self.done = Event()
        self.wake = Event()
        self.drained = Event()
        # the connection cap's view of us (greenh2.pace); the writer's min_response_rate
        self.activity = activity or Activity(None, 0.0)
        self.send_pace = Pace(config.min_response_rate, config.min_rate_grace,
                              activity=self.activity)

    # --- lifecycle ----------------------------------------------------------------------------

    def serve(self) -> None:
        upgrade = self.upgrade
        self.engine.start(upgrade[1] if upgrade else None, upgraded=upgrade is not None)
        self.started = True
        self.activity.on_shed = self.shed
        writer = gevent.spawn(self._write_loop)
        reader = gevent.spawn(self._read_loop)
        if upgrade:
            self._open_stream(1, upgrade[0], upgrade[2], ended=True)
        if self.stopping:  # shut down before it started: now that SETTINGS went first
            self.stopping = False
            self.shutdown()
        self.wake.set()
        try:
            self.done.wait()
        finally:
            self.drain.cancel()
            teardown(self, reader, writer)

    def shutdown(self) -> None:
        """Graceful stop (SIGTERM): streams in flight finish, and the two-step GOAWAY of
        RFC 9113 §6.8 goes out once they have (at once on an idle connection); see drain.py."""
        if self.stopping:
            return
        self.stopping = True
        for websocket in list(self.websockets.values()):
            websocket.going_away()  # close 1001, then the handler ends and its stream with it
        if not self.started:
            return  # serve() does it after the server preface
        self.drain.begin()

    def shed(self, reason: str) -> None:
        """Closed to admit a new connection at worker_connections (drain.shed)."""
        shed_connection(self, reason)

    def maybe_done(self) -> None:
        if self.draining and not self.live:
            self.done.set()

    # --- writer -------------------------------------------------------------------------------

    def wake_writer(self) -> None:
        self.wake.set()

    def wait_output_room(self) -> None:
        """Producers wait while the socket is backed up (CVE-2019-9517: memory stays bounded)."""
        while self.engine.output_size > OUTPUT_HIGH_WATER:
            if self.broken:
                raise StreamGone("connection lost")
            self.drained.clear()
            if not self.drained.wait(self.config.send_timeout):
                observe.OBSERVER.limit_tripped("send_timeout")
                self._lost("client stopped reading")
                raise StreamGone("client stopped reading")

    def _write_loop(self) -> None:
        engine, transport = self.engine, self.transport
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                while engine.output_size:
                    transport.sendall(engine.take_output(), self.send_pace)
                self.drained.set()
                if engine.closed:
                    self.done.set()
        except (TimeoutError, OSError) as exc:
            self._lost(f"write failed: {exc}")

    def _lost(self, why: str) -> None:
        log.debug("connection from %s:%s lost: %s", self.conninfo.remote_addr,
                  self.conninfo.remote_port, why)
        self.broken = True
        self.drained.set()
        for stream in list(self.streams.values()):
            stream.on_gone(why)
            cancel(self, stream, why)
        self.done.set()

    # --- reader -------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        transport, engine = self.transport, self.engine
        transport.settimeout(self.config.keepalive or None)
        data = self.preread
        try:
            while True:
                if data:
                    events = engine.receive(data)
                    if events:
                        self._dispatch(events)
                    self.wake.set()
                    if engine.output_size > OUTPUT_HIGH_WATER:
                        self.wait_output_room()
                    data = engine.take_backlog()
                    if data:  # more new requests in this read: first responses go first
                        STARTER.wait_room()
                        continue
                try:
                    data = transport.recv(READ_SIZE)
                except TimeoutError:
                    if self.live:
                        data = b""
                        continue
                    log.debug("closing idle connection")
                    break
                if not data:
                    self._lost("client closed the connection")
                    return
        except ConnectionEnd as exc:
            # our GOAWAY for a client's error (RFC 9113 §5.4.1) is worth an operator's line:
            # it is what a misbehaving client library sees as "connection terminated"
            level = logging.DEBUG if exc.code == ErrorCodes.NO_ERROR else logging.INFO
            log.log(level, "closing HTTP/2 connection from %s: %s (GOAWAY %s)",
                    self.conninfo.remote_addr, exc,
                    exc.code.name if hasattr(exc.code, "name") else exc.code)
            self.wake.set()
        except (OSError, StreamGone) as exc:
            self._lost(str(exc))
            return
        self.draining = True
        self.done.set()

    def _dispatch(self, events: list[Any]) -> None:
        streams = self.streams
        for event in events:
            kind = type(event)
            if kind is ev.DataReceived:
                stream = streams.get(event.stream_id)
                if stream is not None and not stream.request_done:
                    stream.on_data(event.data, event.flow_controlled_length)
                else:  # stream refused or finished: only give the connection window back
                    self.engine.acknowledge(event.stream_id, event.flow_controlled_length)
            elif kind is ev.RequestReceived:
                self._on_request(event)
            elif kind is ev.TrailersReceived:
                stream = streams.get(event.stream_id)
                if stream is not None and not stream.request_done:
                    stream.on_trailers(event.headers)
            elif kind is ev.StreamEnded:
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.on_end()
            elif kind is ev.StreamReset:
                stream = streams.get(event.stream_id)
                if event.remote_reset:
                    observe.OBSERVER.reset(False, event.error_code)
                if stream is not None:
                    why = f"reset by client ({event.error_code!r})"
                    stream.on_gone(why)
                    if event.remote_reset:
                        cancel(self, stream, why)
            elif self.engine.is_flow_event(event):
                self._wake_windows(getattr(event, "stream_id", 0))
            elif kind is ev.PingAckReceived:
                self.drain.on_ping_ack(event.ping_data)
            elif kind is PeerGoaway:
                self._on_peer_goaway(event)
            elif kind is ev.ConnectionTerminated:
                raise ConnectionEnd(ErrorCodes.NO_ERROR, "client sent GOAWAY")

    def _wake_windows(self, stream_id: int) -> None:
        if stream_id:
            stream = self.streams.get(stream_id)
            if stream is not None:
                stream.on_window()
            return
        for stream in self.streams.values():
            stream.on_window()

    def _on_peer_goaway(self, event: PeerGoaway) -> None:
        if event.error_code:
            raise ConnectionEnd(ErrorCodes.NO_ERROR, f"client sent GOAWAY({event.error_code})")
        self.draining = True  # RFC 9113 §6.8: finish what is in flight, then close
        self.maybe_done()

    def _on_request(self, event: ev.RequestReceived) -> None:
        stream_id = event.stream_id
        if self.draining or self.live >= self.config.max_concurrent_streams:
            # RFC 9113 §5.1.2 / §8.7: refused streams were not processed; the client may retry.
            observer = observe.OBSERVER
            observer.refused_stream()
            if not self.draining:
                observer.limit_tripped("concurrent_streams")
            self.engine.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            if self.engine.failure:
                raise self.engine.failure
            return
        head = self.engine.heads.pop(stream_id)  # built and validated once, in request.py
        head.scheme = head.scheme or self.conninfo.url_scheme
        if event.stream_ended is not None:
            head.body_length = 0
        offer = None
        if head.method == "CONNECT":  # RFC 8441 extended CONNECT: a WebSocket, or refused
            refused, offer = screen(self, stream_id, event.headers, head)
            if refused:
                return
        self._open_stream(stream_id, head, b"", ended=event.stream_ended is not None, offer=offer)

    def _open_stream(self, stream_id: int, head: RequestHead, body: bytes, ended: bool,
                     offer: Offer | None = None) -> None:
        head.stream_id = stream_id
        stream = H2Stream(self, stream_id)
        head.trailers = stream.request_trailers
        head.extra["greenh2.cancelled"] = stream.cancelled
        if body:
            stream.inbox.append(body)
        stream.ended = ended
        self.streams[stream_id] = stream
        if offer is not None:
            websocket = self.websockets[stream_id] = open_websocket(stream, head, offer, self.config)
            if self.stopping:  # opened before the client saw our GOAWAY (drain.py): 1001 once accepted
                websocket.going_away()
        self.live += 1
        self.activity.enter(BUSY, time.monotonic())
        observe.OBSERVER.stream_opened()
        STARTER.add(stream, self._run_stream, self._stream_finished, stream, head)

    def _run_stream(self, stream: H2Stream, head: RequestHead) -> None:
        websocket = self.websockets.get(stream.id)
        try:
            if head.body_length is None and stream.ended:  # the whole body is here
                head.body_length = stream.received if stream.too_large else \
                    sum(len(c) for c in stream.inbox)
            if websocket is None:
                try:
                    self.handler(head, self.conninfo, stream.pull, H2Sink(stream))
                except StreamCancelled as exc:  # thrown in outside the app (http2/cancel.py)
                    log.debug("stream %d cancelled: %s", stream.id, exc)
            else:  # the app reads the WebSocket, not wsgi.input
                self.handler(head, self.conninfo, lambda size: b"", websocket.wrap_sink(H2Sink(stream)))
                websocket.finish()
        finally:
            self._stream_finished(stream)

    def _small_body_coming(self, stream: H2Stream) -> bool:
        """The response is complete before a small declared body has all arrived (an early 403,
        a POST the app does not read): let the client finish sending it (its DATA only gives the
        connection window back) rather than reset at once, which curl 7.88 takes as the loss of
        the response when the reset comes before its body went out. Bodies over SMALL_BODY or
        over max_body_size are reset at once (RFC 9113 §8.1)."""
        unsent = self.engine.lengths.unsent(stream.id)
        if unsent is None or stream.too_large:
            return False
        declared, left = unsent
        cap = self.config.max_body_size
        return left <= SMALL_BODY and not (cap and declared > cap)

    def _late_reset(self, stream_id: int) -> None:
        if not self.broken and not self.engine.closed:  # a closed stream is left alone
            self.engine.reset_stream(stream_id, ErrorCodes.NO_ERROR, count=False)
            self.wake.set()

    def _stream_finished(self, stream: H2Stream) -> None:
        """The handler returned, or the stream was gone before its handler started."""
        websocket = self.websockets.pop(stream.id, None)
        stream.request_done = True
        if not stream.ended and not stream.error and not self.broken:
            # RFC 9113 §8.1: response complete, request body not wanted any more. A WebSocket's
            # orderly end is END_STREAM both ways (RFC 8441 §5): the client gets a moment first.
            if websocket is None and not self._small_body_coming(stream):
                stream.reset(ErrorCodes.NO_ERROR, count=False)
            else:
                gevent.spawn_later(END_GRACE, self._late_reset, stream.id)
        if stream.unacked:
            self.engine.acknowledge(stream.id, stream.unacked)  # connection credit for unread body
            stream.unacked = 0
        stream.inbox.clear()
        del self.streams[stream.id]
        self.live -= 1
        if not self.live:
            self.activity.enter(IDLE, time.monotonic())
        observe.OBSERVER.stream_closed()
        self.wake.set()
        if not self.live:
            self.drain.idle()  # after this stream's last frames, in the same write
        self.maybe_done()
