"""A client's cancellation reaching the app: `environ['greenh2.cancelled']` and StreamCancelled.

An HTTP/2 client cancels a request by resetting its stream (RFC 9113 §8.1: RST_STREAM(CANCEL),
what a gRPC client sends when a deadline passes) or by going away. h2 only tells the reader;
without this the handler runs to its end unaware (a 5 s sleep stays a 5 s sleep). So:
  * the stream's `CancelSignal` (environ['greenh2.cancelled']) is set: `is_set()` for code that
    polls, `wait(timeout)` for code that waits on it;
  * the handler greenlet gets `StreamCancelled` (a StreamGone) thrown in at its next cooperative
    switch, unless its response is complete already (nothing left to stop), it runs in an OS
    thread (--threads: it cannot be interrupted; it sees the signal and StreamGone at its next
    read or write) or the stream is a WebSocket (its own layer closes it).
"""
from __future__ import annotations

from typing import Any

import gevent

from greenh2.errors import StreamCancelled
from greenh2.wsgi.cancel import CancelSignal

__all__ = ["CancelSignal", "cancel"]


def cancel(session: Any, stream: Any, reason: str) -> None:
    """The client cancelled `stream` (an H2Stream of `session`, an H2Session): set its signal
    and throw StreamCancelled into its handler greenlet where that is allowed (see above;
    never into the caller, the reader or the writer)."""
    stream.cancelled.set(reason)
    greenlet = stream.greenlet
    if session.config.threads or stream.id in session.websockets or stream.response_ended \
            or stream.request_done or greenlet is None or greenlet.dead \
            or greenlet is gevent.getcurrent():
        return
    greenlet.kill(StreamCancelled(reason), block=False)
