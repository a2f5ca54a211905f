"""environ['greenh2.cancelled']: the one signal every protocol sets when a client gives up on a
request (HTTP/2: RST_STREAM or the connection gone, greenh2.http2.cancel; HTTP/1.1: the client
closed the connection while the app ran, greenh2.http1.hangup). It lives in the WSGI layer
because it is part of the environ an app sees, whatever protocol carried the request."""
from __future__ import annotations

from gevent.event import Event


class CancelSignal:
    """environ['greenh2.cancelled']: set when the client cancels the request. The gevent Event
    behind `wait()` is made only if a handler waits (most requests never do)."""
    __slots__ = ("_event", "_set", "reason")

    def __init__(self) -> None:
        self._set = False
        self._event: Event | None = None
        self.reason = ""

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """True once cancelled; False if `timeout` seconds pass first (hub thread only)."""
        if self._set:
            return True
        if self._event is None:
            self._event = Event()
        return bool(self._event.wait(timeout))

    def set(self, reason: str) -> None:
        if self._set:
            return
        self._set, self.reason = True, reason
        if self._event is not None:
            self._event.set()
