"""Where h2's own checks fall short of RFC 9113 / RFC 7541 (sans-IO, used by `engine.Engine`).

* A field block that fails to decode must be COMPRESSION_ERROR (RFC 9113 §4.3); h2 says
  PROTOCOL_ERROR. `StrictDecoder` raises `CompressionFailure`, which h2 lets through.
* h2 ends the connection for any malformed request; RFC 9113 §8.1.1 asks for a stream error.
  `ServerConnection` + `StrictDecoder` hand each decoded block to request.HeaderBlockChecker.
* content-length must equal the DATA received (RFC 9113 §8.1.1); h2 checks DATA frames but not a
  stream that HEADERS ends (a bodiless request, or trailers). `ContentLengthCheck` does that.
  h2 makes excess DATA a connection error; `ServerConnection` resets only that stream.
* Frames on a stream we reset must be ignored (RFC 9113 §5.1, closed), but h2 answers each with
  another RST_STREAM; every other RST_STREAM h2 sends on its own counts toward the reset budget
  (MadeYouReset, CVE-2025-8671). `ResetLedger` sorts h2's output accordingly.
* Received bytes dropped unread (past max_body_size) must go back to the connection window but
  not to their stream's, which h2's `acknowledge_received_data` does for open streams only as a
  pair. `ServerConnection.release_connection_window` does the connection half alone.
* A malformed trailer section (a pseudo-header in it, a connection-specific field, no
  END_STREAM) is a stream error PROTOCOL_ERROR (RFC 9113 §8.1, §8.1.1); h2 ends the whole
  connection for it. `ServerConnection` resets only that stream.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h2.events as ev
from h2.errors import ErrorCodes
from h2.exceptions import InvalidBodyLengthError, ProtocolError, StreamClosedError
from h2.stream import StreamState
from hpack import Decoder
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hyperframe.frame import WindowUpdateFrame

from greenh2.http2.receive import QuietReceive
from greenh2.http2.request import HeaderBlockChecker

_RST_STREAM = 0x3
_RESETS_REMEMBERED = 1024  # streams whose late frames are ignored; older ones are h2's business


class CompressionFailure(Exception):
    """A field block could not be decoded (RFC 7541). Not an HPACKError, so it passes through
    h2 untranslated and the engine can answer COMPRESSION_ERROR."""


class StrictDecoder(Decoder):
    """Decoding failures are COMPRESSION_ERROR; every decoded block passes `checker` (RFC 9113
    §8.2/§8.3 request and trailer rules, request.py) before h2 sees it."""

    def __init__(self, checker: HeaderBlockChecker | None = None) -> None:
        super().__init__()
        self.checker = checker
        # A block that leaves the dynamic table as it is (indexed fields, literals without
        # indexing or never indexed: RFC 7541 §6.1, §6.2.2, §6.2.3) decodes to the same list
        # while no other block arrives: a client repeating its request (h2load, curl and
        # browsers send :path as a literal without indexing) costs a dict lookup instead of
        # a Huffman decode. Any block that changes the table empties the cache.
        self._cached: dict[bytes, Any] = {}

    def decode(self, data: bytes, raw: bool = False) -> Any:
        headers = self._cached.get(data)
        if headers is None:
            headers = self._decode(data, raw)
        return headers if self.checker is None else self.checker.checked(headers)

    def _decode(self, data: bytes, raw: bool) -> Any:
        table = self.header_table
        entries = table.dynamic_entries
        before = (len(entries), entries[0] if entries else None, table.maxsize)
        try:
            headers = super().decode(data, raw=raw)
        except OversizedHeaderListError:
            raise  # HPACK bomb (CVE-2019-9516): h2 ends the connection with ENHANCE_YOUR_CALM
        except (HPACKError, IndexError, TypeError, UnicodeDecodeError) as exc:
            raise CompressionFailure(f"field block decoding failed: {exc}") from None
        # an insertion is a new tuple at the front; an eviction or size update changes the rest
        same = before[0] == len(entries) and before[2] == table.maxsize and \
            (entries[0] if entries else None) is before[1]
        if not same or len(self._cached) >= 64:
            self._cached.clear()  # the table changed: cached decodings are stale
        if same and raw:
            self._cached[bytes(data)] = headers
        return headers


_TRAILER_STATES = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL)  # a HEADERS here is trailers


class ServerConnection(QuietReceive):
    """h2's server connection (without the per-frame repr: receive.py) with two changes, both
    so that one bad field block costs only its stream (RFC 9113 §8.1.1), not the connection:
    * it tells the header checker (request.py) which block comes next: a new request (stream
      not known to h2 yet) or a trailer section; h2's own inbound validation is off
      (settings.h2_configuration) and the checker decides what is malformed;
    * a trailer section h2 itself refuses (no END_STREAM) resets its stream with
      PROTOCOL_ERROR. The block has been HPACK-decoded by then, so the connection's
      compression state is intact. The RST_STREAM leaves through h2's output, where
      `ResetLedger` turns it into a StreamReset event and counts it toward the reset budget."""

    checker: HeaderBlockChecker
    _purge_at = 64

    @property
    def open_inbound_streams(self) -> int:
        """h2 counts open streams on every new stream, walking all of them (and dropping the
        closed ones from `streams` as it goes): O(streams) per request. Its only use is the
        SETTINGS_MAX_CONCURRENT_STREAMS check, and greenh2 keeps h2's limit at 2^31-1 and
        counts live handlers itself (engine._H2_STREAM_CAP). So the walk runs only when 64
        more streams are known than after the last one; in between the dict's size, an upper
        bound, is answered. Closed streams stay bounded (at most 64 more than the open ones)."""
        known = len(self.streams)
        if known < self._purge_at:
            return known
        count = super().open_inbound_streams  # purges closed streams
        self._purge_at = len(self.streams) + 64
        return count

    def release_connection_window(self, size: int) -> None:
        """The connection half of h2's acknowledge_received_data (h2 4.x): body bytes dropped
        past max_body_size free the window all streams share (RFC 9113 §6.9), while the
        stream's window stays spent, so the client stops sending on that stream."""
        increment = self._inbound_flow_control_window_manager.process_bytes(size)
        if increment:
            frame = WindowUpdateFrame(0)
            frame.window_increment = increment
            self._prepare_for_sending([frame])

    def _receive_data_frame(self, frame: Any) -> Any:
        """DATA past the declared content-length is malformed (RFC 9113 §8.1.1): a stream error
        PROTOCOL_ERROR, where h2 ends the whole connection. The bytes were counted against the
        connection window before h2 found out: give that back, since no stream will."""
        try:
            return super()._receive_data_frame(frame)
        except InvalidBodyLengthError:
            self.release_connection_window(frame.flow_controlled_length)
            try:
                self.reset_stream(frame.stream_id, ErrorCodes.PROTOCOL_ERROR)
            except StreamClosedError:
                pass
            return [], []

    def _receive_headers_frame(self, frame: Any) -> Any:
        stream = self.streams.get(frame.stream_id)
        self.checker.begin(frame.stream_id, stream is None,
                           bool(self.local_settings.enable_connect_protocol))
        if stream is None or stream.state_machine.state not in _TRAILER_STATES:
            return super()._receive_headers_frame(frame)
        try:
            return super()._receive_headers_frame(frame)
        except ProtocolError as exc:
            if type(exc) is not ProtocolError:  # size, flow control, ...: still the connection's
                raise
            try:
                self.reset_stream(frame.stream_id, ErrorCodes.PROTOCOL_ERROR)
            except StreamClosedError:
                pass  # the response was complete: nothing is left to reset
            return [], []


def server_reset_event(stream_id: int, code: int) -> ev.StreamReset:
    """A StreamReset event for a reset the server sent (remote_reset False)."""
    return ev.StreamReset(stream_id=stream_id, error_code=code, remote_reset=False)


class ResetLedger:
    """The streams we reset (most recent `_RESETS_REMEMBERED`)."""

    def __init__(self) -> None:
        self.sent: dict[int, None] = {}  # insertion order: oldest first

    def note(self, stream_id: int) -> None:
        self.sent[stream_id] = None
        if len(self.sent) > _RESETS_REMEMBERED:
            del self.sent[next(iter(self.sent))]

    def sort_output(self, data: bytes, out: bytearray) -> list[tuple[int, int]]:
        """Copy h2's answer to received frames into `out`, minus its RST_STREAM(STREAM_CLOSED)
        for streams we reset; return (stream id, code) of every other RST_STREAM it sent."""
        resets: list[tuple[int, int]] = []
        pos, size = 0, len(data)
        while pos + 9 <= size:
            end = pos + 9 + int.from_bytes(data[pos:pos + 3], "big")
            if data[pos + 3] == _RST_STREAM:
                stream_id = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
                code = int.from_bytes(data[pos + 9:pos + 13], "big")
                if code == ErrorCodes.STREAM_CLOSED and stream_id in self.sent:
                    pos = end
                    continue
                self.note(stream_id)
                resets.append((stream_id, code))
            out += data[pos:end]
            pos = end
        out += data[pos:]
        return resets


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value)  # h2 has checked it is a number and not conflicting
    return None


class ContentLengthCheck:
    def __init__(self) -> None:
        self.lengths: dict[int, list[int]] = {}  # stream -> [content-length, DATA bytes so far]

    def forget(self, stream_id: int) -> None:
        self.lengths.pop(stream_id, None)

    def unsent(self, stream_id: int) -> tuple[int, int] | None:
        """(content-length, bytes of it not received yet) of a stream whose body is still
        coming; None when it declared no length or has ended."""
        counts = self.lengths.get(stream_id)
        return None if counts is None else (counts[0], counts[0] - counts[1])

    def check(self, events: list[Any], reset: Callable[[int, ErrorCodes], None]) -> list[Any]:
        """Drop the events of streams whose body length contradicts content-length, resetting
        them with PROTOCOL_ERROR (RFC 9113 §8.1.1: malformed)."""
        lengths = self.lengths
        out: list[Any] = []
        bad: set[int] = set()
        for event in events:
            stream_id: int = getattr(event, "stream_id", 0)
            if stream_id in bad:
                continue
            kind = type(event)
            if kind is ev.RequestReceived:
                length = _content_length(event.headers)
                if length is not None:
                    lengths[stream_id] = [length, 0]
            elif kind is ev.DataReceived and stream_id in lengths:
                lengths[stream_id][1] += len(event.data)
            elif kind is ev.StreamEnded:
                counts = lengths.pop(stream_id, None)
                if counts is not None and counts[0] != counts[1]:
                    bad.add(stream_id)
                    out = self._malformed(out, stream_id, reset)
                    continue
            elif kind is ev.StreamReset:
                lengths.pop(stream_id, None)
            out.append(event)
        return out

    @staticmethod
    def _malformed(out: list[Any], stream_id: int, reset: Callable[[int, ErrorCodes], None]) -> list[Any]:
        opened_now = any(type(e) is ev.RequestReceived and e.stream_id == stream_id for e in out)
        out = [e for e in out if getattr(e, "stream_id", None) != stream_id
               or type(e) is ev.DataReceived]
        reset(stream_id, ErrorCodes.PROTOCOL_ERROR)
        if not opened_now:  # the handler runs already: tell it the stream is gone
            out.append(server_reset_event(stream_id, ErrorCodes.PROTOCOL_ERROR))
        return out


def drop_malformed(engine: Any, events: list[Any]) -> list[Any]:
    """RFC 9113 §8.1.1: a malformed request or trailer section is a stream error
    PROTOCOL_ERROR; its neighbours go on. The stream's DATA events stay, so the session
    gives their connection window back; a running handler is told its stream is gone."""
    bad = engine.checker.malformed
    out = []
    for event in events:
        sid = getattr(event, "stream_id", 0)
        if sid not in bad:
            out.append(event)
        elif type(event) is ev.DataReceived:
            out.append(event)
    for sid in bad:
        opened_now = sid in engine.heads or any(
            type(e) is ev.RequestReceived and e.stream_id == sid for e in events)
        engine.heads.pop(sid, None)
        if sid in engine.conn.streams:
            engine.reset_stream(sid, ErrorCodes.PROTOCOL_ERROR)
        if not opened_now:
            out.append(server_reset_event(sid, ErrorCodes.PROTOCOL_ERROR))
    bad.clear()
    return out
