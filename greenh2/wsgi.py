"""PEP 3333 for both protocols: the environ and the start_response/write/iterate/close rules.

HTTP/1.1 and HTTP/2 differ only in the `Sink` they hand to `run_app` (how a head, a body chunk
and the end go on the wire) and in how they fill `RequestHead`; everything an application can
observe is decided here, once.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Callable, Iterable, Protocol
from urllib.parse import unquote_to_bytes

from greenh2.errors import PeerGone, RemoteProtocolError, StreamGone
from greenh2.wsgiinput import InputStream

log = logging.getLogger("greenh2")
Headers = list[tuple[str, str]]
NO_BODY_STATUS = (204, 304)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass
class ConnInfo:
    """What is constant over a connection; `base` is the environ part shared by its requests."""
    server_name: str
    server_port: str
    remote_addr: str
    remote_port: str
    url_scheme: str
    alpn: str = ""
    tls_version: str = ""
    base: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestHead:
    method: str
    target: str  # path and query as received (latin-1 str)
    protocol: str  # "HTTP/2.0", "HTTP/1.1", "HTTP/1.0"
    headers: Headers  # lower-case names
    authority: str = ""
    scheme: str = ""
    body_length: int | None = None  # known whole-body length (Content-Length, or all arrived)
    stream_id: int = 0  # HTTP/2 stream id (0 on HTTP/1.x)


class Sink(Protocol):
    def informational(self, status: int, headers: Headers) -> None: ...
    def start(self, status: int, reason: str, headers: Headers, end: bool) -> None: ...
    def write(self, data: bytes, end: bool = False) -> None: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...


def base_environ(conn: ConnInfo, errors: Any = None) -> dict[str, Any]:
    """The per-connection part of every environ, built once per connection."""
    from greenh2 import __version__
    env: dict[str, Any] = {
        "SCRIPT_NAME": "", "SERVER_NAME": conn.server_name, "SERVER_PORT": conn.server_port,
        "REMOTE_ADDR": conn.remote_addr, "REMOTE_PORT": conn.remote_port,
        "SERVER_SOFTWARE": f"greenh2/{__version__}", "wsgi.version": (1, 0),
        "wsgi.url_scheme": conn.url_scheme, "wsgi.errors": errors or sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "wsgi.input_terminated": True, "wsgi.file_wrapper": FileWrapper,
        "greenh2.alpn": conn.alpn, "greenh2.tls_version": conn.tls_version,
    }
    if conn.url_scheme == "https":
        env["HTTPS"] = "on"
    return env


def build_environ(head: RequestHead, conn: ConnInfo, body: InputStream) -> dict[str, Any]:
    env = dict(conn.base)
    path, _, query = head.target.partition("?")
    env["REQUEST_METHOD"] = head.method
    env["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
    env["QUERY_STRING"] = query
    env["RAW_URI"] = env["REQUEST_URI"] = head.target
    env["SERVER_PROTOCOL"] = head.protocol
    env["greenh2.protocol"] = "h2" if head.protocol == "HTTP/2.0" else "http/1.1"
    env["greenh2.stream_id"] = head.stream_id
    env["wsgi.input"] = body
    cookies: list[str] = []
    for name, value in head.headers:
        if name[0] == ":":
            continue
        if name == "cookie":
            cookies.append(value)
            continue
        if "_" in name:  # would collide with a dash spelling after CGI mangling
            continue
        if name == "content-type":
            env["CONTENT_TYPE"] = value
            continue
        if name == "content-length":
            env["CONTENT_LENGTH"] = value
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        env[key] = env[key] + ", " + value if key in env else value
    if cookies:
        env["HTTP_COOKIE"] = "; ".join(cookies)
    if head.authority:
        env["HTTP_HOST"] = head.authority
    if "CONTENT_LENGTH" not in env and head.body_length is not None and \
            (head.body_length or head.method not in ("GET", "HEAD", "OPTIONS", "DELETE")):
        env["CONTENT_LENGTH"] = str(head.body_length)
    return env


class FileWrapper:
    """wsgi.file_wrapper (PEP 3333): iterate a file in blocks; close() closes the file."""

    def __init__(self, filelike: Any, blksize: int = 65536) -> None:
        self.filelike, self.blksize = filelike, blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> "FileWrapper":
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


_date_cache = [0, ""]


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
        if not name or not _TOKEN.issuperset(name):
            raise ValueError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"header {name!r} value contains CR, LF or NUL")
        value.encode("latin-1")  # UnicodeEncodeError is a ValueError
    return int(status[:3])


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
        end = last and (self.length is None or self.bytes_sent == self.length)
        self.sink.write(data, end)
        self.ended = end

    def finish(self) -> None:
        if self.length is not None and self.has_body and self.bytes_sent < self.length:
            raise ShortBody(f"app declared Content-Length {self.length}, sent {self.bytes_sent}")
        if not self.sent_head:
            self._send_head(True)
            return
        if not self.ended:
            self.sink.finish()


class ShortBody(Exception):
    pass


def run_app(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], sink: Sink,
            server_header: str) -> Response:
    """Run one request through the app; never raises for app errors (they become 500/abort)."""
    resp = Response(sink, environ["REQUEST_METHOD"], server_header)
    environ["wsgi.early_hints"] = lambda headers: _early_hints(resp, headers)
    result: Any = None
    try:
        result = app(environ, resp.start_response)
        if type(result) is list and len(result) == 1 and result[0]:
            resp.write(result[0], last=True)  # the common `return [body]`: one write, one frame
        else:
            for chunk in result:
                if chunk:
                    resp.write(chunk)
        resp.finish()
    except (StreamGone, PeerGone) as exc:
        log.debug("stream ended under the app: %s", exc)
    except RemoteProtocolError as exc:  # e.g. bad chunked framing met while the app read
        log.debug("bad request body: %s", exc)
        _send_error(resp, exc.status, "Bad Request")
    except Exception as exc:  # the app's bugs must not take the connection down
        _app_failed(resp, environ, exc)
    finally:
        if result is not None and hasattr(result, "close"):
            try:
                result.close()
            except Exception:
                log.exception("error closing the WSGI iterable for %s", environ.get("PATH_INFO"))
    return resp


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
        resp.status, resp.headers = status, [("content-type", "text/plain"),
                                             ("content-length", str(len(body)))]
        resp.reason, resp.length = reason, len(body)
        resp.write(body)
        resp.finish()
    except (StreamGone, PeerGone):
        pass


def _early_hints(resp: Response, headers: Headers) -> None:
    """environ['wsgi.early_hints'](headers): a 103 response (RFC 8297) before the real one."""
    if resp.sent_head:
        return
    check_headers("103 Early Hints", list(headers))
    resp.sink.informational(103, list(headers))
