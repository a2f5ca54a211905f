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


class TooSlow(PeerGone):
    """The client moved request body or response bytes below the minimum data rate
    (min_request_rate / min_response_rate, after min_rate_grace)."""


class Shed(PeerGone):
    """The connection was closed to admit a new one at worker_connections (`reason`: what
    made it the one to go: "headers", "slow" or "idle")."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"shed at the connection cap ({reason})")
        self.reason = reason
