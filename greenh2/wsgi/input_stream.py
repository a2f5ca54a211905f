"""`wsgi.input` for both protocols: a file-like object over a `pull(max_bytes) -> bytes` callable.

The protocol side decides where bytes come from (an HTTP/2 stream's inbox, which returns window
credit as it is drained; an HTTP/1.1 Content-Length or chunked decoder). This class only does the
PEP 3333 file semantics: read(), read(n), readline(), readlines(), iteration. It never holds more
than one pulled chunk beyond what the app asked for, so a stream's memory stays bounded.

`read(n)` on a *streaming* body (see `is_streaming`: no Content-Length, or a gRPC / Connect
streaming content type) returns what has arrived, at least one byte, b"" at the end, as a
socket does: full-duplex RPCs need the handler to see a 15-byte message while the client waits
for the answer. A body with a Content-Length of any other type keeps file semantics: read(n)
gives n bytes unless the body ends first, so apps reading fixed-size blocks keep working.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

Pull = Callable[[int], bytes]
CHUNK = 65536
# gRPC (application/grpc, +proto, +json...) and Connect streaming (application/connect+proto...).
STREAMING_TYPES = ("application/grpc", "application/connect+")


def is_streaming(content_length: str | None, content_type: str) -> bool:
    """Whether read(n) returns short (see the module docstring)."""
    return content_length is None or content_type.lower().startswith(STREAMING_TYPES)


class InputStream:
    __slots__ = ("_buf", "_eof", "_pull", "consumed", "streaming")

    def __init__(self, pull: Pull, streaming: bool = False) -> None:
        self._pull = pull
        self.streaming = streaming
        self._buf = b""
        self._eof = False
        self.consumed = 0

    def _fill(self, hint: int) -> bool:
        """Pull one more chunk into the buffer; False at end of body."""
        if self._eof:
            return False
        data = self._pull(max(hint, 1))
        if not data:
            self._eof = True
            return False
        self._buf = self._buf + data if self._buf else data
        return True

    def _take(self, size: int) -> bytes:
        data, self._buf = self._buf[:size], self._buf[size:]
        self.consumed += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._take(len(self._buf))]
            while self._fill(CHUNK):
                parts.append(self._take(len(self._buf)))
            return b"".join(parts)
        if len(self._buf) >= size:
            return self._take(size)
        if self.streaming and size:  # what has arrived: at least one byte, b"" at the end
            if self._buf or self._fill(size):
                return self._take(size)
            return b""
        # File semantics: `size` bytes unless the body ends first (apps read CONTENT_LENGTH in
        # one call). Memory stays bounded by what the app asked for.
        parts = [self._take(len(self._buf))]
        need = size - len(parts[0])
        while need > 0 and not self._eof:
            data = self._pull(need)
            if not data:
                self._eof = True
                break
            if len(data) > need:
                data, self._buf = data[:need], data[need:]
            parts.append(data)
            need -= len(data)
            self.consumed += len(data)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        limit = size if size is not None and size >= 0 else None
        start = 0
        while True:
            pos = self._buf.find(b"\n", start)
            if pos >= 0:
                end = pos + 1
                return self._take(end if limit is None else min(end, limit))
            if limit is not None and len(self._buf) >= limit:
                return self._take(limit)
            start = len(self._buf)
            if not self._fill(CHUNK):
                return self._take(len(self._buf))

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def drain(self) -> None:
        """Discard the rest of the body (HTTP/1.1 keep-alive needs the next request's bytes)."""
        self._buf = b""
        while self._fill(CHUNK):
            self._buf = b""

    def close(self) -> None:  # some frameworks call it; the server owns the stream
        pass
