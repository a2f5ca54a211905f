"""The sans-IO HTTP/2 core: owns one `h2.H2Connection`, turns received bytes into events and
send calls into bytes. It imports neither gevent nor socket, so it is driven the same way by the
live server and by the unit tests (real frames in, real frames out).

What it adds on top of h2 (h2 leaves these to the server):
* our SETTINGS are in the first SETTINGS frame (set before `initiate_connection()`), with
  SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 when WebSocket is on (RFC 8441 §3, see extconnect.py);
* the connection receive window is raised at start so concurrent uploads do not stall;
* frame headers pass the `FrameScanner` and `FloodGuard` before h2 acts on them;
* a client's graceful GOAWAY does not stop responses in flight (RFC 9113 §6.8);
* a field block that fails to decode is COMPRESSION_ERROR (RFC 9113 §4.3), not h2's
  PROTOCOL_ERROR;
* a malformed trailer section resets its stream, not the connection (RFC 9113 §8.1.1);
* content-length is checked when HEADERS (request or trailers) ends the stream, which h2 skips
  (RFC 9113 §8.1.1: a mismatch makes the request malformed, stream error PROTOCOL_ERROR);
* frames on a stream we reset are ignored (RFC 9113 §5.1) instead of h2 answering each with
  another RST_STREAM, and every RST_STREAM h2 does send counts toward the reset budget
  (MadeYouReset, CVE-2025-8671);
* outbound bytes collect in one buffer that the I/O edge drains with one write per burst.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import h2.events as ev
from h2.errors import ErrorCodes
from h2.exceptions import FlowControlError, ProtocolError, StreamClosedError
from h2.settings import SettingCodes
from hyperframe.frame import GoAwayFrame

from greenh2 import observe
from greenh2.config import Config
from greenh2.http2.inbound import (
    FrameScanner,
    FrameSizeError,
    FrameTooLarge,
    Goaway,
    HeaderBlockTooLarge,
    PrefaceError,
)
from greenh2.http2.limits import FloodGuard, TooMuch
from greenh2.http2.outbound import ResponseEncoder, write_headers, write_last_data, write_open_data
from greenh2.http2.request import HeaderBlockChecker
from greenh2.http2.rules import (
    CompressionFailure,
    ContentLengthCheck,
    ResetLedger,
    ServerConnection,
    StrictDecoder,
    drop_malformed,
    server_reset_event,
)
from greenh2.http2.settings import H2_STREAM_CAP, h2_configuration, local_settings


class ConnectionEnd(Exception):
    """The connection must close after the queued output (a GOAWAY, usually) is written."""

    def __init__(self, code: ErrorCodes, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class PeerGoaway:
    """The client sent GOAWAY (taken out of h2's view, see inbound.py)."""
    __slots__ = ("error_code", "last_stream_id")

    def __init__(self, error_code: int, last_stream_id: int) -> None:
        self.error_code = error_code
        self.last_stream_id = last_stream_id


class Engine:
    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic,
                 headers_per_receive: int = 0) -> None:
        self.config = config
        self.checker = HeaderBlockChecker()
        self.heads = self.checker.heads  # stream id -> RequestHead of this receive()'s requests
        self.conn = ServerConnection(h2_configuration())
        self.conn.checker = self.checker
        self.conn.decoder = StrictDecoder(self.checker)
        self.conn.encoder = ResponseEncoder()  # one HPACK context for every block we send
        self.guard = FloodGuard(config, clock)
        # A field block's encoded size is at most about its decoded size (RFC 7541 §4.1 counts
        # 32 octets per field on top of name and value), so one frame of slack past
        # SETTINGS_MAX_HEADER_LIST_SIZE is all an honest client ever needs.
        self.scanner = FrameScanner(config.max_frame_size, self.guard.on_frame,
                                    max_header_block=config.max_header_list_size + config.max_frame_size,
                                    headers_per_feed=headers_per_receive)
        self._out = bytearray()
        self.peer_goaway: PeerGoaway | None = None
        self.lengths = ContentLengthCheck()
        self.resets = ResetLedger()
        self.failure: ConnectionEnd | None = None  # set when a send-side limit ended the connection
        self.closed = False
        self.sent_goaway = False

    # --- setup --------------------------------------------------------------------------------

    def start(self, upgrade_settings: bytes | None = None, upgraded: bool = False) -> None:
        """Send the server preface: our SETTINGS first (RFC 9113 §3.4), then the connection window.

        `upgraded`: the connection came from HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2); the request
        becomes stream 1, half-closed (remote), and `upgrade_settings` is its HTTP2-Settings."""
        cfg, conn = self.config, self.conn
        conn.local_settings = local_settings(cfg, cfg.max_concurrent_streams)
        conn.max_inbound_frame_size = cfg.max_frame_size
        conn.incoming_buffer.max_frame_size = cfg.max_frame_size
        conn.decoder.max_header_list_size = cfg.max_header_list_size
        conn.decoder.max_allowed_table_size = cfg.header_table_size
        if upgraded:
            conn.initiate_upgrade_connection(upgrade_settings)
        else:
            conn.initiate_connection()
        # What the client was told stays; h2's own enforcement moves out of the way (see above).
        conn.local_settings = local_settings(cfg, H2_STREAM_CAP)
        extra = cfg.connection_window_size - 65535
        if extra > 0:
            conn.increment_flow_control_window(extra)
        self._collect()

    # --- input --------------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[Any]:
        """Feed received bytes; returns h2 events plus `PeerGoaway`. Raises ConnectionEnd.
        With `headers_per_receive`, bytes past that many HEADERS frames wait in `take_backlog()`
        for the next call (inbound.FrameScanner)."""
        if self.closed:
            return []
        events: list[Any] = []
        self.heads.clear()
        try:
            for piece in self.scanner.feed(data):
                if isinstance(piece, Goaway):
                    events.append(self._peer_goaway(piece))
                else:
                    events.extend(self.conn.receive_data(piece))
                    events.extend(self._collect_received())
            if self.checker.malformed:
                events = drop_malformed(self, events)
            events = self.lengths.check(events, self.reset_stream)
        except FrameSizeError as exc:
            if isinstance(exc, FrameTooLarge):
                observe.OBSERVER.limit_tripped("frame_size")
            self._fail(ErrorCodes.FRAME_SIZE_ERROR, str(exc))
        except PrefaceError as exc:
            self._fail(ErrorCodes.PROTOCOL_ERROR, str(exc))
        except CompressionFailure as exc:
            self._fail(ErrorCodes.COMPRESSION_ERROR, str(exc))
        except TooMuch as exc:
            observe.OBSERVER.limit_tripped(exc.limit)
            self._fail(ErrorCodes.ENHANCE_YOUR_CALM, str(exc))
        except HeaderBlockTooLarge as exc:
            observe.OBSERVER.limit_tripped("continuation")
            self._fail(ErrorCodes.ENHANCE_YOUR_CALM, str(exc))
        except ProtocolError as exc:  # h2 has queued its GOAWAY already
            self._collect()
            self.closed = True
            code = getattr(exc, "error_code", ErrorCodes.PROTOCOL_ERROR)
            if code == ErrorCodes.ENHANCE_YOUR_CALM:  # h2's DenialOfServiceError: HPACK bomb
                observe.OBSERVER.limit_tripped("header_list_size")
            observe.OBSERVER.goaway(True, code)
            raise ConnectionEnd(code, str(exc)) from None
        self._collect()
        if self.failure is not None:
            raise self.failure
        return events

    def take_backlog(self) -> bytes:
        """Received bytes the last receive() left for the next one (b"" if none)."""
        rest, self.scanner.rest = self.scanner.rest, b""
        return rest

    def _collect_received(self) -> list[Any]:
        """Queue h2's answer to received frames (see h2rules.ResetLedger); the resets h2 sent on
        its own become StreamReset events, so their handlers stop at their next I/O."""
        events = []
        for stream_id, code in self.resets.sort_output(self.conn.data_to_send(), self._out):
            events.append(server_reset_event(stream_id, code))
            observe.OBSERVER.reset(True, code)
            self.guard.count_local_reset()  # TooMuch: receive() ends the connection
        return events

    def _peer_goaway(self, frame: Goaway) -> PeerGoaway:
        last = int.from_bytes(frame.payload[0:4], "big") & 0x7FFFFFFF
        code = int.from_bytes(frame.payload[4:8], "big")
        self.peer_goaway = PeerGoaway(code, last)
        observe.OBSERVER.goaway(False, code)
        return self.peer_goaway

    def _fail(self, code: ErrorCodes, reason: str) -> None:
        self.goaway(code, reason)
        self.closed = True
        self.failure = ConnectionEnd(code, reason)
        raise self.failure

    # --- output -------------------------------------------------------------------------------

    def _collect(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self._out += data

    @property
    def output_size(self) -> int:
        return len(self._out)

    def take_output(self) -> bytearray:
        """Everything framed so far, handed over rather than copied: a fresh buffer takes the
        next frames. Copying (`bytes(...)`) cost a large response a second allocation and
        copy of its whole size; without it 1 MiB downloads over TLS take 35 % less CPU
        (benchmarks/RESULTS.md)."""
        data, self._out = self._out, bytearray()
        return data

    def send_headers(self, stream_id: int, headers: list[tuple[bytes, bytes]],
                     end_stream: bool = False) -> None:
        """Framed by outbound.write_headers while h2 says the stream may send; else by h2
        (which raises the right error for a closed or reset stream)."""
        if not write_headers(self.conn, self._out, stream_id, headers, end_stream):
            self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        self._collect()

    def send_window(self, stream_id: int) -> int:
        """Bytes we may send on this stream now (min of stream and connection windows)."""
        return self.conn.local_flow_control_window(stream_id)

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> int:
        """Send as much of `data` as the windows allow, in frames of the peer's max size.
        Returns the bytes sent; END_STREAM goes out only with the last byte."""
        conn = self.conn
        size = len(data)
        allowed = min(size, conn.local_flow_control_window(stream_id))
        frame_max = conn.max_outbound_frame_size
        view = memoryview(data) if not isinstance(data, memoryview) else data
        # The frame that carries END_STREAM changes the stream's state: written last, below.
        fast = (size - 1) // frame_max * frame_max if end_stream and allowed == size and size else allowed
        sent = write_open_data(conn, self._out, stream_id, view, fast, frame_max)
        while sent < allowed:
            step = min(frame_max, allowed - sent)
            last = end_stream and sent + step == size
            if not (last and write_last_data(conn, self._out, stream_id, view[sent:sent + step])):
                conn.send_data(stream_id, view[sent:sent + step], end_stream=last)
            sent += step
        if end_stream and size == 0 and not write_last_data(conn, self._out, stream_id, view):
            conn.end_stream(stream_id)
        self._collect()
        if sent:
            self.guard.data_sent(sent)  # earns WINDOW_UPDATE / PING budget (limits.EARNED)
        return sent

    def end_stream(self, stream_id: int) -> None:
        self.conn.end_stream(stream_id)
        self._collect()

    def reset_stream(self, stream_id: int, code: ErrorCodes, count: bool = True) -> None:
        """RST_STREAM from us; counted toward the reset budget (MadeYouReset, CVE-2025-8671).
        `count=False` only for RST_STREAM(NO_ERROR) after a complete response (RFC 9113 §8.1):
        its handler has returned already, so it frees nothing an attacker could reuse."""
        try:
            self.conn.reset_stream(stream_id, code)
        except (StreamClosedError, ProtocolError):
            return
        self._collect()
        observe.OBSERVER.reset(True, code)
        self.resets.note(stream_id)
        self.lengths.forget(stream_id)
        if not count:
            return
        try:
            self.guard.count_local_reset()
        except TooMuch as exc:
            observe.OBSERVER.limit_tripped(exc.limit)
            self.goaway(ErrorCodes.ENHANCE_YOUR_CALM, str(exc))
            self.failure = ConnectionEnd(ErrorCodes.ENHANCE_YOUR_CALM, str(exc))
            self.closed = True

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give `size` bytes of receive window back (stream and connection) as the app reads."""
        if size and not self.closed:
            try:
                self.conn.acknowledge_received_data(size, stream_id)
            except (ProtocolError, FlowControlError):
                return
            self._collect()

    def release_connection_window(self, size: int) -> None:
        """Give `size` received bytes back to the connection window only (rules.py)."""
        if size and not self.closed:
            self.conn.release_connection_window(size)
            self._collect()

    def goaway(self, code: ErrorCodes = ErrorCodes.NO_ERROR, reason: str = "",
               last_stream_id: int | None = None) -> None:
        if self.closed:
            return
        if code == ErrorCodes.NO_ERROR:
            self._graceful_goaway(last_stream_id)
            return
        observe.OBSERVER.goaway(True, code)
        data = reason.encode("utf-8", "replace")[:256]
        self.conn.close_connection(code, additional_data=data, last_stream_id=last_stream_id)
        self._collect()

    def _graceful_goaway(self, last_stream_id: int | None) -> None:
        """RFC 9113 §6.8: streams up to last_stream_id still complete after a NO_ERROR GOAWAY.
        h2 refuses every send once it has sent GOAWAY, so this frame is written by hand and
        h2's state stays open; the session refuses streams opened after it."""
        self._collect()
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.highest_stream_id if last_stream_id is None else last_stream_id
        frame.error_code = 0
        self._out += frame.serialize()
        self.sent_goaway = True
        observe.OBSERVER.goaway(True, 0)

    def ping(self, opaque: bytes = b"greenh2!") -> None:
        self.conn.ping(opaque)
        self._collect()

    @property
    def highest_stream_id(self) -> int:
        return self.conn.highest_inbound_stream_id

    def is_flow_event(self, event: Any) -> bool:
        """Events that may open a send window: wake writers waiting on flow control."""
        if isinstance(event, ev.WindowUpdated):
            return True
        return isinstance(event, ev.RemoteSettingsChanged) and \
            SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings
