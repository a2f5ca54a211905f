"""greenh2's error tree, on two axes as in h11: who broke the rules (local vs remote) and how
much is lost (a stream vs the whole connection). Errors that end up on the wire carry the RFC 9113
§7 error code or the HTTP status they map to, so the I/O edge translates them in one place."""
from __future__ import annotations

import sys
from typing import Any

from h2.errors import ErrorCodes


class GreenH2Error(Exception):
    """Base of every error greenh2 raises on purpose."""


class ConfigError(GreenH2Error):
    """A bad setting, command line or config file: shown as one line, exit status 2."""


class AppLoadError(GreenH2Error):
    """The WSGI application could not be imported or is not callable."""


class RemoteProtocolError(GreenH2Error):
    """The peer broke the protocol. For HTTP/1.1 `status` is the response to send."""

    def __init__(self, message: str, status: int = 400,
                 code: ErrorCodes = ErrorCodes.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RequestBodyTooLarge(GreenH2Error):
    """The request body passed `max_body_size`: raised by `wsgi.input` reads at the first byte
    past the limit, and by every later read. Uncaught, the server answers 413 Content Too Large
    (RFC 9110 §15.5.14) if no response has started, else it ends the response: RST_STREAM(CANCEL)
    on HTTP/2, a closed connection on HTTP/1.1 (README: Request body size).

    When werkzeug is loaded (Flask and werkzeug apps), the instance raised is also a
    `werkzeug.exceptions.RequestEntityTooLarge`, so those frameworks answer 413 themselves (with
    the app's own 413 error handler, if it has one); see `body_too_large`."""

    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over max_body_size ({limit} bytes)")
        self.limit = limit


_flavours: dict[type, tuple[Any, type]] = {}  # our class -> (werkzeug's base, our subclass)


def _werkzeug_flavoured(cls: type, base_name: str, *args: Any) -> Any:
    """An instance of `cls`, also an instance of werkzeug.exceptions.<base_name> when werkzeug
    is loaded, so Flask and werkzeug apps answer it with their own HTTP error (and handler).

    werkzeug is looked up in sys.modules, never imported: an app that does not use it has no
    use for its exception classes, and greenh2 does not pay for importing it."""
    base = getattr(sys.modules.get("werkzeug.exceptions"), base_name, None)
    if base is None:
        return cls(*args)
    cached = _flavours.get(cls)
    if cached is None or cached[0] is not base:
        cached = _flavours[cls] = (base, type(cls.__name__, (cls, base), {"__module__": __name__}))
    return cached[1](*args)


def body_too_large(limit: int) -> RequestBodyTooLarge:
    """A RequestBodyTooLarge to raise; a werkzeug RequestEntityTooLarge too under werkzeug."""
    error: RequestBodyTooLarge = _werkzeug_flavoured(RequestBodyTooLarge, "RequestEntityTooLarge",
                                                     limit)
    return error


class StreamGone(GreenH2Error):
    """The stream a handler is using was reset or its connection closed; the handler's next I/O
    raises this so it stops, and the server logs it at debug level only."""


class PeerGone(GreenH2Error, ConnectionError):
    """The client disconnected or stopped reading for longer than send_timeout."""


class StreamCancelled(StreamGone):
    """The client cancelled the request: it reset the stream (RST_STREAM, e.g. a gRPC deadline
    or a cancelled call) or closed the connection. Raised in the handler greenlet at its next
    cooperative switch (a sleep, a wsgi.input read, a write, any gevent wait), so a handler
    stops promptly; a handler that catches it should return. Not raised with --threads (a
    thread cannot be interrupted): such a handler sees environ['greenh2.cancelled'] set."""


class TooSlow(PeerGone):
    """The client moved request body or response bytes below the minimum data rate
    (min_request_rate / min_response_rate, after min_rate_grace)."""


class RequestBodyTooSlow(TooSlow):
    """The request body arrives below min_request_rate (HTTP/1.1): the app's wsgi.input read
    raises this; if the response has not started, the client gets 408 Request Timeout and the
    connection closes (RFC 9110 §15.5.9; Kestrel answers MinRequestBodyDataRate the same way).
    Under werkzeug it is a `werkzeug.exceptions.RequestTimeout` too (see `body_too_slow`)."""

    status = 408
    response: Any = None  # werkzeug's HTTPException reads it; OSError's __init__ never sets it


def body_too_slow() -> RequestBodyTooSlow:
    """A RequestBodyTooSlow to raise; a werkzeug RequestTimeout too under werkzeug."""
    error: RequestBodyTooSlow = _werkzeug_flavoured(RequestBodyTooSlow, "RequestTimeout",
                                                    "request body below min_request_rate")
    return error


class Shed(PeerGone):
    """The connection was closed to admit a new one at worker_connections (`reason`: what
    made it the one to go: "headers", "slow" or "idle")."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"shed at the connection cap ({reason})")
        self.reason = reason
