"""The narrow seam between the serving layers and operations (metrics, health, control).

Protocol and server code report what happens through the `Observer` held in `OBSERVER`, and
publish the process's serving state in `STATE`; they never import `greenh2.ops` (which sits above
them and installs a real observer). The default observer does nothing, so a server without
operations features pays one attribute lookup and a no-op call per event.
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

    @property
    def ready(self) -> bool:
        return not self.draining


class Observer:
    """No-op base: `greenh2.ops` subclasses it and overrides what it counts."""

    def event(self, name: str, **labels: Any) -> None:
        """A countable event (`connection_opened`, `stream_reset`, `limit_tripped`, ...)."""


STATE = ServingState()
OBSERVER: Observer = Observer()


def install(observer: Observer) -> None:
    """Replace the process's observer (done once, by `greenh2.ops`, before serving)."""
    global OBSERVER
    OBSERVER = observer
