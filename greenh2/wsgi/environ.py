"""PEP 3333 for both protocols, the request side: the environ built from a `RequestHead`.

HTTP/1.1 and HTTP/2 differ only in how they fill `RequestHead` (and, in `response`, in the
`Sink` they hand to `run_app`); everything an application can observe is decided here, once.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

from greenh2.wsgi.input_stream import InputStream
from greenh2.wsgi.trailers import request_trailers

Headers = list[tuple[str, str]]


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
    # The request's trailer fields as received: None until the body has been read to its end.
    trailers: Callable[[], Headers | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # environ entries a protocol adds


def base_environ(conn: ConnInfo, errors: Any = None) -> dict[str, Any]:
    """The per-connection part of every environ, built once per connection."""
    from greenh2._version import __version__
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
    env["greenh2.request_trailers"] = request_trailers(head.trailers)
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
    if head.extra:  # e.g. wsgi.websocket (greenh2.websocket)
        env.update(head.extra)
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
