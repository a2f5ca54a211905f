"""A gRPC service for grpcio clients, as a WSGI app: connect-python's generated
`EchoServiceWSGIApplication` over greenh2 (examples/grpc/README.md).

    greenh2 -b 127.0.0.1:50051 examples.grpc.app:app
    gunicorn -k greenh2.worker -b 127.0.0.1:50051 examples.grpc.app:app

What it relies on from greenh2 (README "gRPC"): `wsgi.ext.http.send_trailers` for grpc-status,
short reads on a streaming body (Chat answers each message as it arrives) and cancellation
(Sleep stops at once when the client's deadline passes)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext

from examples.grpc.echo_connect import EchoServiceWSGIApplication
from examples.grpc.echo_pb2 import Msg, SleepReport, SleepRequest

_REPORTS: dict[str, SleepReport] = {}  # Sleep's record per key (one process), read by Report
# The WSGI environ of the call being served: connect-python's RequestContext does not carry it.
# Each greenh2 stream runs in its own greenlet, and gevent gives each greenlet its own context.
_ENVIRON: ContextVar[dict[str, Any]] = ContextVar("environ")


class Echo:
    def say(self, request: Msg, ctx: RequestContext) -> Msg:
        return request

    def count(self, request: Msg, ctx: RequestContext) -> Iterator[Msg]:
        for i in range(request.number):
            yield Msg(text=f"{request.text} {i}", number=i)

    def collect(self, request: Iterator[Msg], ctx: RequestContext) -> Msg:
        texts, size, n = [], 0, 0
        for msg in request:
            texts.append(msg.text)
            size += len(msg.payload)
            n += 1
        return Msg(text=" ".join(texts), number=n, payload=b"%d" % size)

    def chat(self, request: Iterator[Msg], ctx: RequestContext) -> Iterator[Msg]:
        for msg in request:  # each message is answered before the next one has been sent
            yield Msg(text=f"re: {msg.text}", number=msg.number, payload=msg.payload)

    def fail(self, request: Msg, ctx: RequestContext) -> Msg:
        raise ConnectError(Code.INVALID_ARGUMENT, request.text)

    def sleep(self, request: SleepRequest, ctx: RequestContext) -> SleepReport:
        cancelled = _ENVIRON.get()["greenh2.cancelled"]  # set when the client cancels
        start = time.monotonic()
        _REPORTS[request.key] = SleepReport(key=request.key, state="sleeping")
        try:
            time.sleep(request.seconds)  # gevent's sleep: StreamCancelled lands here
        except BaseException as exc:
            _REPORTS[request.key] = SleepReport(
                key=request.key, state="interrupted", elapsed=time.monotonic() - start,
                exception=type(exc).__name__, cancelled=cancelled.is_set())
            raise
        report = SleepReport(key=request.key, state="slept", elapsed=time.monotonic() - start)
        _REPORTS[request.key] = report
        return report

    def report(self, request: SleepRequest, ctx: RequestContext) -> SleepReport:
        return _REPORTS.get(request.key, SleepReport(key=request.key, state="unknown"))


_service = EchoServiceWSGIApplication(Echo())


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    _ENVIRON.set(environ)
    return _service(environ, start_response)
