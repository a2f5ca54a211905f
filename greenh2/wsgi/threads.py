"""`--threads N`: run handlers in OS threads for apps that block in C code gevent cannot patch.

The app call and its body iteration run in a gevent ThreadPool. h2 objects, sockets and gevent
events belong to the hub's thread, so every Sink call and every request-body pull made from a
worker thread is carried back to the hub (`run_callback_threadsafe`), run there in a greenlet
(it may wait for flow control), and its result handed back through a native lock.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from gevent.monkey import get_original
from gevent.threadpool import ThreadPool

from greenh2.wsgi.environ import Headers
from greenh2.wsgi.response import Response, Sink, run_app

_allocate_lock = get_original("_thread", "allocate_lock")


class ThreadRunner:
    def __init__(self, size: int) -> None:
        self.pool = ThreadPool(size)
        self.hub = gevent.get_hub()

    def run(self, app: Callable[..., Any], environ: dict[str, Any], sink: Sink,
            server_header: str) -> Response:
        return self.pool.spawn(run_app, app, environ, sink, server_header).get()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """From a worker thread: run fn(*args) in a hub greenlet and wait for its result."""
        lock = _allocate_lock()
        lock.acquire()
        outcome: list[Any] = []

        def in_greenlet() -> None:
            try:
                outcome.append((True, fn(*args)))
            except BaseException as exc:  # handed to the calling thread
                outcome.append((False, exc))
            finally:
                lock.release()

        self.hub.loop.run_callback_threadsafe(gevent.spawn, in_greenlet)
        lock.acquire()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def bridge_pull(self, pull: Callable[[int], bytes]) -> Callable[[int], bytes]:
        return lambda size: self.call(pull, size)

    def bridge_sink(self, sink: Sink) -> Sink:
        return _BridgedSink(self, sink)


class _BridgedSink:
    def __init__(self, runner: ThreadRunner, sink: Sink) -> None:
        self.runner, self.sink = runner, sink

    def informational(self, status: int, headers: Headers) -> None:
        self.runner.call(self.sink.informational, status, headers)

    def start(self, status: int, reason: str, headers: Headers, end: bool) -> None:
        self.runner.call(self.sink.start, status, reason, headers, end)

    def write(self, data: bytes, end: bool = False) -> None:
        self.runner.call(self.sink.write, data, end)

    def finish(self) -> None:
        self.runner.call(self.sink.finish)

    def trailers(self, headers: Headers) -> None:
        self.runner.call(self.sink.trailers, headers)

    def abort(self) -> None:
        self.runner.call(self.sink.abort)
