"""Notice an HTTP/1.1 client that closes its connection while the app still works on its request,
and cancel the request as HTTP/2 does for RST_STREAM (greenh2.http2.cancel).

HTTP/1.1 has no way to cancel a request but to close the connection (RFC 9112 §9.6), and a
server learns of the close only by reading. The connection greenlet runs the app and reads
nothing until the response is done, so a handler waiting on a slow model or database would run
to its end for nobody. Once the request body has all arrived (the app will not read the socket
again for this request), a watcher on the descriptor reads what comes, without waiting:

* end of stream: environ['greenh2.cancelled'] is set and StreamCancelled is thrown into the
  handler at its current wait (not with --threads: a thread sees only the signal), the way Go
  cancels a request's context and Node closes a request on the client's FIN;
* bytes (a pipelined next request, RFC 9112 §9.3.2): kept in the connection's buffer for the
  next request; the watch ends.

The watch is armed only when a request has run for ARM_AFTER seconds: most requests end sooner
and cost one libev timer, no system call.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

import gevent
from gevent import get_hub

from greenh2.errors import StreamCancelled
from greenh2.wsgi.cancel import CancelSignal

log = logging.getLogger("greenh2")
ARM_AFTER = 0.2  # seconds a request runs before its connection is watched
READ_SIZE = 65536
REASON = "client closed the connection"


class _Body(Protocol):
    done: bool


class _Sink(Protocol):
    finished: bool
    failed: bool


class HangupWatch:
    """One request's watch; `stop()` must be called when the handler returns (a finally)."""

    __slots__ = ("_io", "_timer", "body", "conn", "greenlet", "interrupt", "signal", "sink")

    def __init__(self, conn: Any, body: _Body, sink: _Sink, signal: CancelSignal) -> None:
        self.conn, self.body, self.sink, self.signal = conn, body, sink, signal
        self.greenlet = gevent.getcurrent()  # the connection greenlet, which runs the handler
        self.interrupt = not conn.config.threads
        self._io: Any = None
        self._timer: Any = get_hub().loop.timer(ARM_AFTER, ARM_AFTER)  # re-checks until armed
        self._timer.start(self._arm)

    def stop(self) -> None:
        for watcher in (self._timer, self._io):
            if watcher is not None:
                watcher.stop()
                watcher.close()
        self._timer = self._io = None

    def _arm(self) -> None:
        """Start reading once the app has the whole body; until then its own reads see a close."""
        if self.sink.finished or self.sink.failed:
            self.stop()
            return
        if not self.body.done:
            return
        self._timer.stop()
        self._timer.close()
        self._timer = None
        self._io = get_hub().loop.io(self.conn.transport.fileno(), 1)  # 1: EV_READ
        self._io.start(self._readable)

    def _readable(self) -> None:
        transport = self.conn.transport
        data = None if transport.aborted else transport.recv_nowait(READ_SIZE)
        if data is None:
            if transport.aborted:
                self.stop()
            return  # woken without data (a TLS record not yet whole): keep watching
        self.stop()
        if data:
            self.conn.buf += data  # the next request, pipelined: served after this one
            return
        self.signal.set(REASON)
        log.debug("%s: cancelling the request in progress", REASON)
        if self.interrupt and not self.sink.finished and not self.greenlet.dead:
            self.greenlet.throw(StreamCancelled(REASON))
