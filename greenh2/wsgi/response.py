"""PEP 3333 for both protocols, the response side: start_response, write(), iterating and
closing the body, error responses, 103 Early Hints, response trailers.

A protocol hands `run_app` a `Sink` (how a head, a body chunk and the end go on the wire);
every rule an application can observe is applied here, once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol

from greenh2 import observe
from greenh2.errors import (
    PeerGone,
    RemoteProtocolError,
    RequestBodyTooLarge,
    RequestBodyTooSlow,
    StreamGone,
)
from greenh2.wsgi.environ import Headers
from greenh2.wsgi.trailers import can_send_trailers, check_trailers

log = logging.getLogger("greenh2")
NO_BODY_STATUS = (204, 304)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Sink(Protocol):
    def informational(self, status: int, headers: Headers) -> None: ...
    def start(self, status: int, reason: str, headers: Headers, end: bool) -> None: ...
    def write(self, data: bytes, end: bool = False) -> None: ...
    def finish(self) -> None: ...
    def trailers(self, headers: Headers) -> None: ...  # end the response with a trailer section
    def abort(self) -> None: ...


_date_cache: list[Any] = [0, ""]  # [second, formatted date]


def http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0], _date_cache[1] = now, formatdate(now, usegmt=True)
    return _date_cache[1]


def check_headers(status: str, headers: Any) -> int:
    """Validate at start_response time (PEP 3333); returns the numeric status."""
    if type(status) is not str or len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
        raise ValueError(f"WSGI status must be a str like '200 OK', got {status!r}")
    if type(headers) is not list:
        raise TypeError(f"WSGI headers must be a list, got {type(headers).__name__}")
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise TypeError(f"WSGI header must be a (name, value) tuple, got {item!r}")
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"WSGI header name and value must be str: {item!r}")
        if item in _CHECKED:  # the same (name, value) passed before: apps repeat their headers
            continue
        if not name or not _TOKEN.issuperset(name):
            raise ValueError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"header {name!r} value contains CR, LF or NUL")
        value.encode("latin-1")  # UnicodeEncodeError is a ValueError
        if len(_CHECKED) < 1024:
            _CHECKED.add(item)
    return int(status[:3])


_CHECKED: set[tuple[str, str]] = set()  # header fields that passed check_headers (bounded)


class Response:
    """One WSGI call: start_response, write() and the body iteration for a Sink."""

    def __init__(self, sink: Sink, method: str, server_header: str) -> None:
        self.sink = sink
        self.head_only = method == "HEAD"
        self.server_header = server_header
        self.status = 0
        self.reason = ""
        self.headers: Headers | None = None
        self.sent_head = False
        self.length: int | None = None  # Content-Length the app declared
        self.bytes_sent = 0
        self.ended = False
        self.pending_trailers: Headers | None = None  # send_trailers() fields, sent at the end

    def start_response(self, status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info:
            try:
                if self.sent_head:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.headers is not None:
            raise AssertionError("start_response called a second time without exc_info")
        code = check_headers(status, headers)
        self.status, self.reason, self.headers = code, status[4:], headers
        self.length = None
        for name, value in headers:
            if len(name) == 14 and name.lower() == "content-length":
                self.length = int(value) if value.strip().isdigit() else None
        return self.write

    @property
    def has_body(self) -> bool:
        return not (self.head_only or self.status in NO_BODY_STATUS or self.status < 200)

    def _send_head(self, end: bool) -> None:
        if self.headers is None:
            raise AssertionError("WSGI app sent body before calling start_response")
        headers = list(self.headers)
        names = {n.lower() for n, _ in headers}
        if "date" not in names:
            headers.append(("date", http_date()))
        if self.server_header and "server" not in names:
            headers.append(("server", self.server_header))
        self.sent_head = True
        self.sink.start(self.status, self.reason, headers, end)

    def write(self, data: bytes, last: bool = False) -> None:
        """The write() callable, and each body chunk; `last` lets the final chunk carry the end
        of the response (one DATA frame with END_STREAM instead of two frames)."""
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"WSGI body chunks must be bytes, got {type(data).__name__}")
            data = bytes(data)
        if not self.sent_head:
            self._send_head(False)
        if not data or not self.has_body:
            return
        if self.length is not None and self.bytes_sent + len(data) > self.length:
            data = data[:self.length - self.bytes_sent]  # never send past Content-Length
            if not data:
                return
        self.bytes_sent += len(data)
        # Trailers come after the last DATA (RFC 9113 §8.1), so that DATA must not end the stream.
        end = last and not self.pending_trailers and \
            (self.length is None or self.bytes_sent == self.length)
        self.sink.write(data, end)
        self.ended = end

    def early_hints(self, headers: Headers) -> None:
        """environ['wsgi.early_hints'](headers): a 103 response (RFC 8297) before the real one
        (a bound method: no closure made per request)."""
        if self.sent_head:
            return
        check_headers("103 Early Hints", list(headers))
        self.sink.informational(103, list(headers))

    def finish(self) -> None:
        if self.length is not None and self.has_body and self.bytes_sent < self.length:
            raise ShortBody(f"app declared Content-Length {self.length}, sent {self.bytes_sent}")
        trailers = self.pending_trailers
        if trailers and not self.has_body:
            log.debug("dropping trailers: a %d response to %s has no content",
                      self.status, "HEAD" if self.head_only else "this request")
            trailers = None
        if not self.sent_head:
            self._send_head(not trailers)
            if not trailers:
                self.ended = True
                return
        if self.ended:
            return
        self.ended = True
        if trailers:
            self.sink.trailers(trailers)
        else:
            self.sink.finish()

    def send_trailers(self, headers: Any) -> None:
        """environ['greenh2.send_trailers'] (also 'gunicorn.http2.send_trailers' and, where the
        response can carry trailers, 'wsgi.ext.http.send_trailers'), as in gunicorn
        27: callable any time before the response ends, before or after the body; the last call
        wins; the fields leave after the body. A refused field raises ValueError here, naming
        it, and nothing from this call is kept."""
        try:
            fields = check_trailers(headers)
        except (ValueError, TypeError) as exc:
            log.error("send_trailers refused: %s", exc)
            raise
        if self.ended:
            log.warning("send_trailers called after the response ended: trailers not sent")
            return
        self.pending_trailers = fields


class ShortBody(Exception):
    pass


def run_app(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], sink: Sink,
            server_header: str) -> Response:
    """Run one request through the app; never raises for app errors (they become 500/abort)."""
    resp = Response(sink, environ["REQUEST_METHOD"], server_header)
    environ["wsgi.early_hints"] = resp.early_hints
    environ["greenh2.send_trailers"] = environ["gunicorn.http2.send_trailers"] = resp.send_trailers
    if can_send_trailers(environ):  # the pyvoy / connect-python name: offered only when usable
        environ["wsgi.ext.http.send_trailers"] = resp.send_trailers
    result: Any = None
    try:
        result = app(environ, resp.start_response)
        if not _taken_over(sink, resp):
            if type(result) is list and len(result) == 1 and result[0]:
                resp.write(result[0], last=True)  # the common `return [body]`: one frame
            else:
                for chunk in result:
                    if chunk:
                        resp.write(chunk)
            if not _taken_over(sink, resp):
                resp.finish()
    except RequestBodyTooSlow as exc:  # 408 if nothing went out yet; the connection closes
        log.debug("request body too slow: %s", exc)
        _send_error(resp, exc.status, "Request Timeout")
    except (StreamGone, PeerGone) as exc:
        log.debug("stream ended under the app: %s", exc)
    except (RemoteProtocolError, RequestBodyTooLarge) as exc:  # e.g. bad chunked framing or
        log.debug("bad request body: %s", exc)  # max_body_size, met while the app read
        if exc.status == 431:  # an HTTP/1.1 trailer section over limit_request_field*
            observe.OBSERVER.limit_tripped("request_fields")
        _send_error(resp, exc.status, _phrase(exc.status))
    except Exception as exc:  # the app's bugs must not take the connection down
        if isinstance(exc, _HANDLED) and _taken_over(sink, resp):
            # simple-websocket users (python-engineio, flask-sock) end with these once they
            # own the connection: werkzeug's and gunicorn's "already handled" signals
            log.debug("%s %s: app ended its WebSocket with %r", environ["REQUEST_METHOD"],
                      environ["PATH_INFO"], exc)
        else:
            _app_failed(resp, environ, exc)
    finally:
        if result is not None and hasattr(result, "close"):
            try:
                result.close()
            except Exception:
                log.exception("error closing the WSGI iterable for %s", environ.get("PATH_INFO"))
    return resp


_HANDLED = (ConnectionError, StopIteration)


def _taken_over(sink: Sink, resp: Response) -> bool:
    """The connection or stream became something else (a WebSocket, greenh2.websocket): the
    WSGI response is not sent; `detached` is the status that went out instead."""
    status: int = getattr(sink, "detached", 0)
    if status:
        resp.status = status
    return bool(status)


def _app_failed(resp: Response, environ: dict[str, Any], exc: BaseException) -> None:
    if isinstance(exc, ShortBody):
        log.error("%s %s: %s", environ["REQUEST_METHOD"], environ["PATH_INFO"], exc)
    else:
        log.error("error handling %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"],
                  exc_info=exc)
    _send_error(resp, 500, "Internal Server Error")


def _send_error(resp: Response, status: int, reason: str) -> None:
    """A plain-text error response, or an abort when the head has gone out already."""
    try:
        if resp.sent_head:
            resp.sink.abort()
            return
        body = f"{reason}\n".encode()
        resp.pending_trailers = None  # the app's trailers belonged to the response that failed
        resp.status, resp.headers = status, [("content-type", "text/plain"),
                                             ("content-length", str(len(body)))]
        resp.reason, resp.length = reason, len(body)
        resp.write(body)
        resp.finish()
    except (StreamGone, PeerGone):
        pass


def _phrase(status: int) -> str:
    if status == 413:
        return "Content Too Large"  # RFC 9110 §15.5.14 (Python < 3.13 has the RFC 7231 name)
    try:
        return HTTPStatus(status).phrase  # 431 Request Header Fields Too Large for big trailers
    except ValueError:
        return "Bad Request"
