"""Stream greenlets start in arrival order, a batch per event-loop turn.

Why this module exists: when thousands of streams arrive at once (10,000 event streams over 100
connections opening together), every connection's reader runs in the same loop turn and, with
a plain `gevent.spawn` per request, queues all 10,000 handler starts before any connection's
writer gets to run: the first response of the first request waits for the last request's
handler to start (seconds). Here requests wait in one FIFO (per process) and one starter
greenlet starts at most BATCH of them per turn, then yields; the writers woken by that batch
run before the next batch starts, so first responses leave in arrival order while the burst is
being worked through. A stream gone before its start (reset, connection lost) is finished
without running its handler.

Readers feed the FIFO a slice at a time (HEADERS_PER_TURN new requests of one connection per
engine.receive, see inbound.FrameScanner) and, while more than ROOM starts are queued, wait for
the starter before parsing more (`wait_room`): parsing all 10,000 requests of a burst first
would hold every first response back behind it, since a reader woken by its socket runs before
any greenlet waiting in the loop's callback queue (the starter's next batch, the writers).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event

BATCH = 32  # handler starts per loop turn (each runs until its first wait)
HEADERS_PER_TURN = 16  # new requests one connection's reader opens before it yields
ROOM = 256  # queued starts above which readers with more requests to open wait

Start = tuple[Any, Callable[..., None], Callable[[Any], None], tuple[Any, ...]]


class Starter:
    def __init__(self) -> None:
        self.pending: deque[Start] = deque()
        self.runner: gevent.Greenlet | None = None
        self.room = Event()
        self.room.set()

    def add(self, stream: Any, run: Callable[..., None], gone: Callable[[Any], None],
            *args: Any) -> None:
        """Start `run(*args)` in a new greenlet, stored as `stream.greenlet`; when the stream
        has an error before its turn comes, `gone(stream)` is called instead."""
        self.pending.append((stream, run, gone, args))
        if self.runner is None:
            self.runner = gevent.spawn(self._run)

    def wait_room(self) -> None:
        """Let the loop turn (the starter, the writers) go first; then wait while the queue is
        longer than ROOM."""
        gevent.sleep(0)
        while len(self.pending) >= ROOM:
            self.room.clear()
            self.room.wait()

    def _run(self) -> None:
        pending = self.pending
        try:
            while pending:
                for _ in range(min(BATCH, len(pending))):
                    stream, run, gone, args = pending.popleft()
                    if stream.error:
                        gone(stream)
                    else:
                        stream.greenlet = gevent.spawn(run, *args)
                if len(pending) < ROOM:
                    self.room.set()
                if pending:
                    gevent.sleep(0)  # the writers woken by this batch go before the next one
        finally:
            self.room.set()
            self.runner = None
            if pending:  # killed with work left (process shutting down): do not strand it
                self.runner = gevent.spawn(self._run)


STARTER = Starter()
