"""`--threads N`: run handlers in OS threads for apps that block in C code gevent cannot patch.

h2 objects, sockets and gevent events belong to the hub's thread, so a handler thread never
touches them. Each request is a `ThreadJob`: the app call and its body iteration run in a
worker thread, and every Sink call it makes is queued as an operation; the request's own stream
greenlet (on the hub) performs the queued operations, which is where flow-control waits belong.

The point is one thread hop per request, not one per call: the hub is woken (one
`run_callback_threadsafe`) only when an operation must go out now (a body chunk of a streaming
response, a request-body read that needs an answer, a large chunk that must wait for room), and
otherwise once when the app has finished, carrying the head, the body and the end together.
Requests reach the workers through a native queue (no hub involvement); a worker waits for the
hub only for request-body reads and when more than WINDOW bytes are queued (back-pressure:
memory per request stays bounded, and a client that stops reading stops the thread).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from gevent.event import Event
from gevent.hub import get_hub
from gevent.monkey import get_original

from greenh2.errors import StreamGone
from greenh2.wsgi.environ import Headers
from greenh2.wsgi.response import Response, Sink, run_app

log = logging.getLogger("greenh2")
_allocate_lock = get_original("_thread", "allocate_lock")
_start_thread = get_original("_thread", "start_new_thread")
_SimpleQueue = get_original("queue", "SimpleQueue")
SWITCH_INTERVAL = 0.0005  # seconds (CPython's default: 0.005)
WINDOW = 256 * 1024  # body bytes a handler thread may queue before it waits for the hub
_DONE, _PULL = "done", "pull"


class ThreadJob:
    """One request crossing threads. The thread-side face is a Sink plus `pull`; the hub side
    is `serve()`, run by the stream greenlet."""

    def __init__(self, pull: Callable[[int], bytes], sink: Sink) -> None:
        self._pull, self.sink = pull, sink
        self.loop = get_hub().loop
        self.lock = _allocate_lock()  # guards ops, scheduled, awaiting, closed
        self.ops: list[tuple[Any, ...]] = []
        self.queued = 0  # body bytes in ops
        self.scheduled = False  # a hub wake-up is on its way
        self.ready = Event()
        self.reply = _allocate_lock()
        self.reply.acquire()
        self.awaiting = False  # the thread waits on `reply`
        self.answer: Any = None
        self.closed = False  # the hub side stopped listening (stream gone, greenlet killed)
        self.failure: BaseException | None = None

    # --- thread side --------------------------------------------------------------------------

    def _add(self, op: tuple[Any, ...], now: bool, size: int = 0) -> None:
        """Queue `op` = (kind, answer wanted, *args); wake the hub now or leave it for later."""
        if self.failure is not None and op[0] != _DONE:  # the end always reaches the hub
            raise self.failure
        with self.lock:
            if self.closed:
                raise StreamGone("stream closed")
            self.ops.append(op)
            self.queued += size
            if now and not self.scheduled:
                self.scheduled = True
                self.loop.run_callback_threadsafe(self.ready.set)

    def _ask(self, op: tuple[Any, ...]) -> Any:
        """Queue `op` and wait for the hub to have performed everything up to it."""
        with self.lock:
            if self.closed:
                raise StreamGone("stream closed")
            self.ops.append(op)
            self.awaiting = True
            if not self.scheduled:
                self.scheduled = True
                self.loop.run_callback_threadsafe(self.ready.set)
        self.reply.acquire()
        answer, self.answer = self.answer, None
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def pull(self, size: int) -> bytes:
        return self._ask((_PULL, True, size))

    def informational(self, status: int, headers: Headers) -> None:
        self._add(("informational", False, status, headers), now=True)

    def start(self, status: int, reason: str, headers: Headers, end: bool) -> None:
        self._add(("start", False, status, reason, headers, end), now=end)

    def write(self, data: bytes, end: bool = False) -> None:
        if self.queued + len(data) > WINDOW:
            self._ask(("write", True, data, end))  # back-pressure: wait until the hub took it
        else:  # the final chunk leaves with the end of the request (one wake-up)
            self._add(("write", False, data, end), now=not end, size=len(data))

    def finish(self) -> None:
        self._add(("finish", False), now=False)

    def trailers(self, headers: Headers) -> None:
        self._add(("trailers", False, headers), now=False)

    def abort(self) -> None:
        self._add(("abort", False), now=False)

    def done(self, outcome: Any) -> None:
        """The app has returned (outcome: its Response, or the exception run_app let out)."""
        try:
            self._add((_DONE, False, outcome), now=True)
        except BaseException:  # the stream is gone and nobody listens: nothing to hand over
            pass

    # --- hub side (the stream greenlet) -------------------------------------------------------

    def serve(self) -> Any:
        """Perform queued operations until the app is done; returns run_app's Response."""
        try:
            while True:
                self.ready.wait()
                self.ready.clear()
                with self.lock:
                    ops, self.ops = self.ops, []
                    self.queued, self.scheduled = 0, False
                for op in ops:
                    if op[0] == _DONE:
                        if isinstance(op[2], BaseException):
                            raise op[2]
                        return op[2]
                    self._perform(op)
        finally:
            self._close()

    def _perform(self, op: tuple[Any, ...]) -> None:
        kind, wanted = op[0], op[1]
        result: Any = None
        try:
            if self.failure is not None:
                result = self.failure
            elif kind == _PULL:
                try:
                    result = self._pull(op[2])
                except Exception as exc:  # the read's answer only: the response may follow
                    result = exc  # (a 413 after RequestBodyTooLarge, a 400 after bad chunking)
            else:
                getattr(self.sink, kind)(*op[2:])
        except Exception as exc:  # handed to the thread at its next call
            self.failure = exc
            result = exc
        if wanted:
            with self.lock:
                if self.awaiting:
                    self.awaiting = False
                    self.answer = result
                    self.reply.release()

    def _close(self) -> None:
        with self.lock:
            self.closed = True
            if self.awaiting:  # never leave a thread waiting on a stream that is gone
                self.awaiting = False
                self.answer = StreamGone("stream closed")
                self.reply.release()


class ThreadRunner:
    def __init__(self, size: int) -> None:
        self.size = size
        self.jobs: Any = None  # created in the serving process (after fork), on first use

    def _start(self) -> None:
        # The hub thread must get the GIL back promptly when a worker runs Python code: with
        # the default 5 ms switch interval, socket I/O of every connection waits behind it.
        # Measured (h2load -c 20 -m 10, hello, 8 threads): 0.91x -> 1.13x greenlet mode's rate.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.jobs = _SimpleQueue()
        for _ in range(self.size):
            _start_thread(self._worker, ())

    def job(self, pull: Callable[[int], bytes], sink: Sink) -> ThreadJob:
        return ThreadJob(pull, sink)

    def run(self, job: ThreadJob, app: Callable[..., Any], environ: dict[str, Any],
            server_header: str) -> Response:
        """In the stream greenlet: hand the request to a worker thread, serve its operations."""
        if self.jobs is None:
            self._start()
        self.jobs.put((job, app, environ, server_header))
        return job.serve()

    def _worker(self) -> None:
        jobs = self.jobs
        while True:
            job, app, environ, server_header = jobs.get()
            try:
                outcome: Any = run_app(app, environ, job, server_header)
            except BaseException as exc:  # run_app handles app errors; this is the rest
                outcome = exc
            job.done(outcome)
