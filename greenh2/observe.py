"""The narrow seam between the serving layers and operations (metrics, health, control).

Protocol and server code report what happens through the `Observer` held in `OBSERVER`, and
publish the process's serving state in `STATE`; they never import `greenh2.ops` (which sits above
them and installs a real observer). The default observer does nothing, so a server without
operations features pays one attribute lookup and a no-op call per event.

Callers look the observer up at call time (`observe.OBSERVER.request_done(...)`, never
`from greenh2.observe import OBSERVER`), so an observer installed after import is seen.
The per-request methods take positional arguments (no kwargs dict per call); rare events
(`event(name, **labels)`, e.g. `websocket_opened`) may use the generic entry.
Standard library only: any layer may import this module.
"""
from __future__ import annotations

import time
from typing import Any


class ServingState:
    """Process-wide serving state read by health checks: ready while accepting, draining from
    the moment a graceful stop or reload starts (RFC-less, but what load balancers need)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.draining = False

    def start_draining(self) -> None:
        self.draining = True

    def ready_again(self) -> None:
        """A reload finished: the new generation accepts (pre-fork master)."""
        self.draining = False

    @property
    def ready(self) -> bool:
        return not self.draining


# Names of the limits that `limit_tripped` reports (README: Limits; greenh2_limit_trips_total).
LIMITS = ("ping", "settings", "reset", "priority", "empty", "window", "continuation",
          "frame_size", "header_list_size", "concurrent_streams", "slowloris", "body_timeout",
          "send_timeout", "request_line", "request_fields", "worker_connections",
          "body_size", "request_rate", "response_rate")
# Why a connection was shed at worker_connections (greenh2_connections_shed_total).
SHED_REASONS = ("headers", "slow", "idle")


class Observer:
    """No-op base: `greenh2.ops` subclasses it and overrides what it counts.

    protocol is "h2" or "http/1.1"; error codes are RFC 9113 §7 integers (or ErrorCodes)."""

    def connection_opened(self, protocol: str, tls: bool) -> None:
        """A connection started speaking `protocol` (after TLS and protocol choice)."""

    def connection_closed(self, protocol: str, tls: bool) -> None:
        """The connection opened with the same arguments ended."""

    def connection_upgraded(self, tls: bool) -> None:
        """An HTTP/1.1 connection became HTTP/2 (`Upgrade: h2c`): the same connection."""

    def stream_opened(self) -> None:
        """An HTTP/2 stream got a handler greenlet."""

    def stream_closed(self) -> None:
        """That handler returned."""

    def request_done(self, protocol: str, method: str, status: int, duration: float,
                     request_bytes: int, response_bytes: int) -> None:
        """A request was answered (status 0: no response head went out)."""

    def reset(self, sent: bool, code: int) -> None:
        """RST_STREAM sent by the server (`sent`) or received from the client."""

    def goaway(self, sent: bool, code: int) -> None:
        """GOAWAY sent or received."""

    def refused_stream(self) -> None:
        """A stream refused with REFUSED_STREAM (limit or draining)."""

    def limit_tripped(self, limit: str) -> None:
        """A protective limit fired (one of LIMITS)."""

    def connection_shed(self, reason: str) -> None:
        """A connection was closed to admit a new one at worker_connections (SHED_REASONS)."""

    def worker_exited(self, pid: int, restarted: bool) -> None:
        """A pre-fork worker exited; `restarted`: unexpectedly, and the master replaces it."""

    def flush(self) -> None:
        """Write out whatever is held back (the process is about to end)."""

    def event(self, name: str, **labels: Any) -> None:
        """Any other countable event (`websocket_opened`, `websocket_closed`, ...)."""


STATE = ServingState()
OBSERVER: Observer = Observer()


def install(observer: Observer) -> None:
    """Replace the process's observer (done once, by `greenh2.ops`, before serving)."""
    global OBSERVER
    OBSERVER = observer
