"""greenh2's error tree, on two axes as in h11: who broke the rules (local vs remote) and how
much is lost (a stream vs the whole connection). Errors that end up on the wire carry the RFC 9113
§7 error code or the HTTP status they map to, so the I/O edge translates them in one place."""
from __future__ import annotations

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
