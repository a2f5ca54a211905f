"""HTTP/1.1 request heads (RFC 9112 §2-§7): parsing the request line and fields, and deciding
the body framing (Content-Length or chunked), keep-alive and `Expect: 100-continue`.

Pure functions over bytes: no I/O, so the rules are unit-tested directly.
"""
from __future__ import annotations

from greenh2.config import Config
from greenh2.errors import RemoteProtocolError
from greenh2.wsgi.environ import Headers, RequestHead
from greenh2.wsgi.trailers import te_accepts_trailers


class Request:
    """A parsed HTTP/1.1 request head plus its body framing."""

    def __init__(self, head: RequestHead, keep_alive: bool, length: int | None, chunked: bool,
                 expect_continue: bool) -> None:
        self.head, self.keep_alive = head, keep_alive
        self.length, self.chunked, self.expect_continue = length, chunked, expect_continue



def wants_h2c(req: Request) -> bool:
    upgrade = header_value(req.head.headers, "upgrade").lower()
    connection = header_value(req.head.headers, "connection").lower()
    return ("h2c" in [t.strip() for t in upgrade.split(",")] and "http2-settings" in connection
            and sum(1 for n, _ in req.head.headers if n == "http2-settings") == 1)


def header_value(headers: Headers, name: str) -> str:
    return ", ".join(v for n, v in headers if n == name)


def accepts_trailers(headers: Headers) -> bool:
    """`TE: trailers` (RFC 9110 §10.1.4): the client will take a chunked trailer section."""
    return te_accepts_trailers(header_value(headers, "te"))


def parse_request(data: bytes, scheme: str, config: Config) -> Request:
    """Parse a request head (RFC 9112 §3, §5, §6); RemoteProtocolError with the status on errors."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        raise RemoteProtocolError("bad bytes") from None
    lines = text[:-4].split("\r\n")
    line = lines[0]
    if len(line) > config.limit_request_line:
        raise RemoteProtocolError("request line too long", 414)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise RemoteProtocolError(f"bad request line {line[:80]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise RemoteProtocolError(f"unsupported version {version[:20]!r}",
                                  505 if version.startswith("HTTP/") else 400)
    if not method.isalpha() or not method.isupper():
        raise RemoteProtocolError(f"bad method {method[:20]!r}")
    if len(lines) - 1 > config.limit_request_fields:
        raise RemoteProtocolError("too many header fields", 431)
    headers = parse_fields(lines[1:], config.limit_request_field_size)
    return _framing(RequestHead(method, target, version, headers, scheme=scheme), version)


def parse_fields(lines: list[str], max_size: int) -> Headers:
    """Field lines (a header or a trailer section) as (lower-case name, value); 431 or 400."""
    headers: Headers = []
    for raw in lines:
        if len(raw) > max_size:
            raise RemoteProtocolError("header field too long", 431)
        name, sep, value = raw.partition(":")
        if not sep or not name or name != name.strip() or " " in name or "\t" in name:
            raise RemoteProtocolError(f"bad header line {raw[:40]!r}")  # also obs-fold (§5.2)
        if "\0" in value or "\r" in value or "\n" in value:
            raise RemoteProtocolError("bad header value")
        headers.append((name.lower(), value.strip(" \t")))
    return headers


def _framing(head: RequestHead, version: str) -> Request:
    lengths = {v.strip() for n, v in head.headers if n == "content-length"}
    te = header_value(head.headers, "transfer-encoding").lower()
    connection = [t.strip() for t in header_value(head.headers, "connection").lower().split(",")]
    head.authority = header_value(head.headers, "host")
    hosts = sum(1 for n, _ in head.headers if n == "host")
    if hosts > 1 or (hosts == 0 and version == "HTTP/1.1"):  # RFC 9112 §3.2
        raise RemoteProtocolError("an HTTP/1.1 request needs exactly one Host header")
    if te and lengths:  # RFC 9112 §6.1: a smuggling vector; refuse rather than guess
        raise RemoteProtocolError("both Content-Length and Transfer-Encoding")
    chunked = False
    if te:
        if version == "HTTP/1.0" or [t.strip() for t in te.split(",")] != ["chunked"]:
            raise RemoteProtocolError(f"unsupported transfer-encoding {te[:30]!r}", 501)
        chunked = True
    length = None
    if lengths:
        value = next(iter(lengths))
        if len(lengths) > 1 or not (value.isascii() and value.isdigit()):
            raise RemoteProtocolError("bad Content-Length")
        length = int(next(iter(lengths)))
    head.body_length = length if not chunked else None
    if head.body_length is None and not chunked:
        head.body_length = 0
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    expect = header_value(head.headers, "expect").lower() == "100-continue" and version == "HTTP/1.1"
    return Request(head, keep_alive, length, chunked, expect)

