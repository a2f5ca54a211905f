"""Trailer fields, both ways, for both protocols: which fields may travel in a trailer section,
the checks `environ['greenh2.send_trailers']` applies, and the request trailers an app reads.

A trailer section comes after the content (RFC 9110 §6.5): a final HEADERS frame with END_STREAM
on HTTP/2 (RFC 9113 §8.1), the trailer section of a chunked body on HTTP/1.1 (RFC 9112 §7.1.2).
Fields that must be known before the content (framing, routing, authentication, request
modifiers, response controls, content format: RFC 9110 §6.5.1) and connection-specific fields
(RFC 9113 §8.2.2) are never sent as trailers, and are dropped from request trailers before the
app sees them. The protocol layers only carry the fields; every rule is here, once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("greenh2")
Headers = list[tuple[str, str]]  # the same alias as greenh2.wsgi.environ.Headers (which imports us)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# RFC 9113 §8.2.2: connection-specific fields (malformed in HTTP/2 anywhere; hop-by-hop in 1.1).
CONNECTION_SPECIFIC = frozenset(("connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                 "upgrade", "te"))
# RFC 9110 §6.5.1: fields whose meaning is needed before the content is processed.
NOT_IN_TRAILERS = CONNECTION_SPECIFIC | frozenset((
    "content-length", "trailer",                                      # framing (§6.4.1, §6.6.2)
    "host",                                                           # routing (§7.2)
    "authorization", "proxy-authorization", "www-authenticate",       # authentication (§11)
    "proxy-authenticate", "authentication-info", "proxy-authentication-info",
    "cookie", "set-cookie",                                           # state (RFC 6265)
    "expect", "max-forwards", "range", "if-match", "if-none-match",   # request modifiers (§13)
    "if-modified-since", "if-unmodified-since", "if-range",
    "cache-control", "expires", "age", "date", "pragma", "vary",      # response controls
    "location", "retry-after",
    "content-type", "content-encoding", "content-range",             # content format (§8)
    "content-language", "content-location",
))


def forbidden_reason(name: str) -> str | None:
    """Why `name` cannot be a trailer field, or None if it can."""
    lname = name.lower()
    if lname.startswith(":"):
        return "pseudo-header fields are not allowed in trailers (RFC 9113 §8.1)"
    if lname in CONNECTION_SPECIFIC:
        return "connection-specific fields are not allowed in trailers (RFC 9113 §8.2.2)"
    if lname in NOT_IN_TRAILERS:
        return "this field must come before the content, not in trailers (RFC 9110 §6.5.1)"
    return None


def can_send_trailers(environ: dict[str, Any]) -> bool:
    """Whether this request's response can carry trailers, which is when
    `environ['wsgi.ext.http.send_trailers']` is offered (the key connect-python and pyvoy look
    for): always on HTTP/2 (RFC 9113 §8.1); on HTTP/1.1 when the client sent `TE: trailers`
    (RFC 9110 §10.1.4), as a chunked response can then end with a trailer section."""
    protocol = environ.get("SERVER_PROTOCOL")  # absent in the health path's minimal environ
    if protocol == "HTTP/2.0":
        return True
    if protocol != "HTTP/1.1":
        return False
    return te_accepts_trailers(environ.get("HTTP_TE", ""))


def te_accepts_trailers(te: str) -> bool:
    """Whether a TE field value lists `trailers` (RFC 9110 §10.1.4): the client will take a
    chunked trailer section."""
    return "trailers" in (t.split(";")[0].strip() for t in te.lower().split(","))


def check_trailers(fields: Iterable[Any]) -> Headers:
    """Validate what an app hands to send_trailers(); returns the fields as a list of str pairs.

    Raises ValueError naming the first refused field (pseudo-header, connection-specific or a
    field RFC 9110 §6.5.1 keeps out of trailers, or an invalid name/value), TypeError for a value
    of the wrong type. Values may be str or int (int is written in decimal, as gunicorn does)."""
    out: Headers = []
    for item in fields:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"a trailer must be a (name, value) pair, got {item!r}")
        name, value = item
        if type(name) is not str:
            raise TypeError(f"trailer name must be str: {item!r}")
        if type(value) is int:
            value = str(value)
        elif type(value) is not str:
            raise TypeError(f"trailer {name!r} value must be str, got {type(value).__name__}")
        why = forbidden_reason(name)
        if why is not None:
            raise ValueError(f"trailer field {name!r} refused: {why}")
        if not name or not _TOKEN.issuperset(name):
            raise ValueError(f"invalid trailer field name {name!r}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"trailer {name!r} value contains CR, LF or NUL")
        value.encode("latin-1")  # UnicodeEncodeError is a ValueError
        out.append((name, value.strip(" \t")))
    return out


def accepted_request_trailers(fields: Headers) -> Headers:
    """Request trailers as the app sees them: forbidden fields dropped (RFC 9110 §6.5.1: a
    recipient must not act on them as if they were in the header section)."""
    kept: Headers = []
    for name, value in fields:
        why = forbidden_reason(name)
        if why is None:
            kept.append((name, value))
        else:
            log.debug("dropping request trailer field %r: %s", name, why)
    return kept


def request_trailers(source: Callable[[], Headers | None] | None) -> Callable[[], Headers | None]:
    """environ['greenh2.request_trailers']: a callable that returns None until the request body
    has been read to its end, then the trailer fields (lower-case names; [] if none came)."""
    cache: list[Headers] = []

    def get() -> Headers | None:
        if cache:
            return list(cache[0])
        raw = source() if source is not None else None
        if raw is None:
            return None
        cache.append(accepted_request_trailers(raw))
        return list(cache[0])
    return get
