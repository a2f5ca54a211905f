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
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import gevent

BATCH = 32  # handler starts per loop turn (each runs until its first wait)

Start = tuple[Any, Callable[..., None], Callable[[Any], None], tuple[Any, ...]]


class Starter:
    def __init__(self) -> None:
        self.pending: deque[Start] = deque()
        self.runner: gevent.Greenlet | None = None

    def add(self, stream: Any, run: Callable[..., None], gone: Callable[[Any], None],
            *args: Any) -> None:
        """Start `run(*args)` in a new greenlet, stored as `stream.greenlet`; when the stream
        has an error before its turn comes, `gone(stream)` is called instead."""
        self.pending.append((stream, run, gone, args))
        if self.runner is None:
            self.runner = gevent.spawn(self._run)

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
                if pending:
                    gevent.sleep(0)  # the writers woken by this batch go before the next one
        finally:
            self.runner = None
            if pending:  # killed with work left (process shutting down): do not strand it
                self.runner = gevent.spawn(self._run)


STARTER = Starter()
