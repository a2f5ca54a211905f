"""The WSGI layer's `Sink` (wsgi/response.py) over one HTTP/2 stream: what start_response, write
and the body iteration call; kept out of session.py, which runs greenlets, not responses."""
from __future__ import annotations

from h2.errors import ErrorCodes

from greenh2.http2.stream import H2Stream
from greenh2.wsgi.environ import Headers


class H2Sink:
    """wsgi.Sink over an H2Stream."""
    __slots__ = ("stream",)

    def __init__(self, stream: H2Stream) -> None:
        self.stream = stream

    def informational(self, status: int, headers: Headers) -> None:
        self.stream.send_headers(status, headers, end=False)

    def start(self, status: int, reason: str, headers: Headers, end: bool) -> None:
        self.stream.send_headers(status, headers, end)

    def write(self, data: bytes, end: bool = False) -> None:
        self.stream.send_data(data, end)

    def finish(self) -> None:
        self.stream.end()

    def trailers(self, headers: Headers) -> None:
        self.stream.send_trailers(headers)

    def abort(self) -> None:
        stream = self.stream
        if stream.error is None:  # not reset already (by the client, or past max_body_size)
            stream.reset(ErrorCodes.CANCEL if stream.too_large else ErrorCodes.INTERNAL_ERROR)
