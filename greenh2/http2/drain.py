"""How one HTTP/2 connection ends: the graceful stop (RFC 9113 §6.8) and why its GOAWAY waits;
the shed at worker_connections (`shed`); the teardown before serve() returns (`teardown`).

Clients differ in what a GOAWAY does to the streams they still have open:

* nghttp2 (curl, nghttp, h2load), browsers, HAProxy, grpcio finish the streams at or below the
  last stream id and retry the rest on a new connection.
* Clients on the `h2` state machine (httpx/httpcore with `http2=True`) move to CLOSED on the
  first GOAWAY and treat any later frame but another GOAWAY as a protocol error; httpcore then
  fails every request still open on the connection, even one whose response is already read
  but not yet taken by its thread. A request above the last stream id it retries elsewhere.

So a connection with streams in flight gets no GOAWAY until they have finished and it has been
idle for IDLE_GRACE (the client's threads take their responses before the GOAWAY comes), or at
the latest DEFER_SHARE of graceful_timeout after the stop began, leaving the rest of it to the
streams still open. New streams the client opens meanwhile are served: it has not been told
anything, and a REFUSED_STREAM (RFC 9113 §8.7) fails the request in httpx and in HAProxy's strict
retry. Once the grace is over, the GOAWAY leaves in the same write as the next last END_STREAM,
which a client that sends one request after the other reads together with its response.
An idle connection gets the sequence at once.

The sequence is the two-step of §6.8 with the PING first: PING and GOAWAY(2^31-1) in one write,
then GOAWAY(real last stream id) when the PING comes back (or after FINAL_DELAY). A request the
client sent before it saw the first GOAWAY is still served: PING and GOAWAY arrive together, and
the client answers the PING after reading both. A PING after the GOAWAY would measure the same
round trip, but an `h2` client rejects it, and with it everything that read brought.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import gevent
from h2.errors import ErrorCodes

from greenh2.errors import StreamGone

if TYPE_CHECKING:
    from greenh2.http2.session import H2Session

SHUTDOWN_PING = b"greenh2S"
FINAL_DELAY = 1.0  # seconds between the two GOAWAYs when the PING is not answered
DEFER_SHARE = 0.5  # of graceful_timeout: the longest a busy connection waits for its GOAWAY
IDLE_GRACE = 0.5  # seconds a connection that went idle waits before its GOAWAY (see above)
MAX_STREAM_ID = 2**31 - 1


class Drain:
    """The stop sequence of one session: deferred (streams in flight), announced (PING and the
    first GOAWAY queued), final (second GOAWAY: `session.draining`)."""
    __slots__ = ("announced", "begun", "cap", "session", "settled", "timer")

    def __init__(self, session: H2Session) -> None:
        self.session = session
        self.begun = False  # shutdown() called and the server preface is out
        self.settled = False  # IDLE_GRACE has passed since the connection first went idle
        self.announced = False
        self.timer: gevent.Greenlet | None = None  # IDLE_GRACE, then FINAL_DELAY
        self.cap: gevent.Greenlet | None = None  # DEFER_SHARE of graceful_timeout

    def begin(self) -> None:
        if self.begun:
            return
        self.begun = True
        if not self.session.live:
            self.announce()
            return
        defer = max(self.session.config.graceful_timeout * DEFER_SHARE, 0.0)
        self.cap = gevent.spawn_later(defer, self.announce)

    def idle(self) -> None:
        """The last stream in flight finished."""
        if not self.begun or self.announced:
            return
        if self.settled:  # streams opened during the grace: GOAWAY right behind the last frames
            self.announce()
        elif self.timer is None:
            self.timer = gevent.spawn_later(IDLE_GRACE, self._grace_over)

    def _grace_over(self) -> None:
        self.timer = None
        self.settled = True
        if not self.session.live:
            self.announce()

    def announce(self) -> None:
        if self.announced or self.session.draining or self.session.engine.closed:
            return
        self.announced = True
        self.cancel()
        engine = self.session.engine
        engine.ping(SHUTDOWN_PING)
        engine.goaway(ErrorCodes.NO_ERROR, last_stream_id=MAX_STREAM_ID)
        self.session.wake_writer()
        self.timer = gevent.spawn_later(FINAL_DELAY, self.final)

    def on_ping_ack(self, data: bytes) -> None:
        if data == SHUTDOWN_PING and self.announced:
            self.final()

    def final(self) -> None:
        """GOAWAY with the real last stream id; streams above it are refused from here."""
        session = self.session
        if session.draining:
            return
        self.cancel()
        session.draining = True
        session.engine.goaway(ErrorCodes.NO_ERROR, last_stream_id=session.engine.highest_stream_id)
        session.wake_writer()
        session.maybe_done()

    def cancel(self) -> None:
        """Stop the timers (not the one running this)."""
        current = gevent.getcurrent()
        for timer in (self.timer, self.cap):
            if timer is not None and timer is not current:
                timer.kill(block=False)
        self.timer = self.cap = None


def shed(session: H2Session, reason: str) -> None:
    """Closed to admit a new connection at worker_connections (server/connection.py):
    GOAWAY and end; a slow reader's GOAWAY would not get through, so it is not waited for."""
    code = ErrorCodes.ENHANCE_YOUR_CALM if reason == "slow" else ErrorCodes.NO_ERROR
    session.engine.goaway(code, last_stream_id=session.engine.highest_stream_id)
    if reason == "slow":
        session.broken = True
        session.transport.abort()
    session.draining = True
    session.wake_writer()
    session.done.set()


def teardown(session: H2Session, reader: gevent.Greenlet, writer: gevent.Greenlet) -> None:
    """Before serve() returns: stream greenlets joined or killed, a last GOAWAY, output flushed
    (gevent closes the socket when the connection handler returns)."""
    reader.kill(block=False)
    greenlets = [s.greenlet for s in session.streams.values() if s.greenlet]
    for stream in list(session.streams.values()):
        stream.on_gone("connection closed")
    if greenlets:
        gevent.joinall(greenlets, timeout=1.0)
        gevent.killall([g for g in greenlets if not g.dead], StreamGone, block=True, timeout=1.0)
    if not session.broken and not session.engine.closed and not session.engine.sent_goaway:
        session.engine.goaway(ErrorCodes.NO_ERROR, last_stream_id=session.engine.highest_stream_id)
    _flush_final(session, writer)
    writer.kill(block=True, timeout=1.0)
    reader.kill(block=True, timeout=1.0)
    # the connection handler closes the transport, lingering first (server/connection.py)


def _flush_final(session: H2Session, writer: gevent.Greenlet) -> None:
    if session.broken or writer.dead:
        return
    session.wake.set()
    with gevent.Timeout(2.0, False):
        while session.engine.output_size and not writer.dead:
            session.drained.clear()
            session.drained.wait(0.5)
