"""Frame-boundary scanner in front of h2 (sans-IO).

h2 buffers a whole frame before it checks the frame's length, ACKs every PING and SETTINGS it is
sent, and closes its whole state on any GOAWAY it receives. This scanner sees each 9-byte frame
header (RFC 9113 §4.1) as the bytes arrive, so that:

* a frame longer than our SETTINGS_MAX_FRAME_SIZE is refused at its header, before its payload is
  buffered (RFC 9113 §4.2, FRAME_SIZE_ERROR), and so is a connection-level frame whose fixed
  length is wrong (SETTINGS ACK with a payload §6.5, PING §6.7, RST_STREAM §6.4, GOAWAY §6.8,
  WINDOW_UPDATE §6.9);
* a field block (HEADERS + CONTINUATION frames) whose encoded size exceeds `max_header_block`,
  or that is split into more than MAX_CONTINUATIONS frames, is refused at the frame header that
  crosses the limit: h2 would buffer every CONTINUATION frame until END_HEADERS (the
  CONTINUATION flood; RFC 9113 §10.5.1 allows closing the connection);
* the client connection preface must be followed by a SETTINGS frame (RFC 9113 §3.4), or the
  connection ends with PROTOCOL_ERROR;
* every frame header is shown to a rate limiter (`on_frame`) before h2 acts on it (flood
  attacks, CVE-2019-9512/9514/9515/9518);
* a client's GOAWAY is taken out of the byte stream and reported, so responses in flight can
  still be sent after a graceful GOAWAY (RFC 9113 §6.8) instead of h2 refusing every later send;
* one feed stops at the frame boundary after `headers_per_feed` HEADERS frames (0: no limit) and
  keeps the rest in `rest`: a read holding a burst of new requests is worked through in slices,
  so the first responses leave while later requests are still being opened (session.py).
"""
from __future__ import annotations

from collections.abc import Callable

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER = 9
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_HEADERS = 0x4
ACK = 0x1
MAX_CONTINUATIONS = 32  # an honest field block needs a few frames (64 KiB list / 16 KiB frames)
# Frames whose length is fixed; a wrong length is a connection FRAME_SIZE_ERROR when the frame is
# connection-wide (PRIORITY's wrong length is only a stream error, §6.3, and stays with h2).
_EXACT_LENGTH = {PING: 8, RST_STREAM: 4, WINDOW_UPDATE: 4}


class FrameSizeError(Exception):
    """A connection error FRAME_SIZE_ERROR, detected at the frame header (RFC 9113 §4.2)."""


class FrameTooLarge(FrameSizeError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes exceeds SETTINGS_MAX_FRAME_SIZE {limit}")


class HeaderBlockTooLarge(Exception):
    """A field block longer than the limit: ended with ENHANCE_YOUR_CALM (RFC 9113 §10.5.1)."""


class PrefaceError(Exception):
    """The preface was not followed by SETTINGS: connection error PROTOCOL_ERROR (§3.4)."""


class Goaway:
    """A GOAWAY frame taken out of the stream: its raw payload (validated by the engine)."""
    __slots__ = ("payload", "stream_id")

    def __init__(self, stream_id: int, payload: bytes) -> None:
        self.stream_id = stream_id
        self.payload = payload


Piece = memoryview | bytes | Goaway
FrameHook = Callable[[int, int, int, int], None]  # (type, flags, length, stream_id)


class FrameScanner:
    def __init__(self, max_frame_size: int, on_frame: FrameHook, expect_preface: bool = True,
                 max_header_block: int | None = None, headers_per_feed: int = 0) -> None:
        self.max_frame_size = max_frame_size
        self.max_header_block = max_header_block
        self._block_size = 0  # encoded bytes of the field block in progress
        self._block_frames = 0
        self._on_frame = on_frame
        self._preface_left = len(PREFACE) if expect_preface else 0
        self._header = bytearray()
        self._payload_left = 0
        self._capture: bytearray | None = None
        self._capture_sid = 0
        self._in_header_block = False
        self._frames = 0
        self._need_settings = expect_preface
        self.headers_per_feed = headers_per_feed
        self._headers_fed = 0
        self.rest = b""  # bytes after the frame boundary where the last feed stopped

    def feed(self, data: bytes) -> list[Piece]:
        """Split `data` into pieces: bytes for h2, in order, and captured GOAWAY frames."""
        view = memoryview(data)
        pieces: list[Piece] = []
        pos, end, fwd = 0, len(view), 0  # view[fwd:pos] is pending for h2
        self._headers_fed = 0
        limit = self.headers_per_feed
        while pos < end:
            if limit and self._headers_fed >= limit and not self._payload_left and \
                    not self._header and not self._in_header_block and not self._preface_left:
                self.rest = bytes(view[pos:])  # at a frame boundary: the next feed starts here
                break
            if self._preface_left:
                step = min(self._preface_left, end - pos)
                offset = len(PREFACE) - self._preface_left
                if view[pos:pos + step] != PREFACE[offset:offset + step]:
                    raise PrefaceError("invalid connection preface")  # RFC 9113 §3.4
                self._preface_left -= step
                pos += step
            elif self._payload_left:
                step = min(self._payload_left, end - pos)
                self._payload_left -= step
                pos += step
                if self._capture is not None:  # captured bytes are never forwarded to h2
                    self._capture += view[pos - step:pos]
                    fwd = pos
                    if not self._payload_left:
                        pieces.append(Goaway(self._capture_sid, bytes(self._capture)))
                        self._capture = None
            else:
                if self._header:  # a header split across reads: finish it first
                    step = min(FRAME_HEADER - len(self._header), end - pos)
                    self._header += view[pos:pos + step]
                    pos += step
                    if len(self._header) < FRAME_HEADER:
                        fwd = pos  # still incomplete: held in _header, not forwarded
                        break
                    header, self._header = bytes(self._header), bytearray()
                    if self._starts_frame(header):
                        pieces.append(header)
                    fwd = pos
                elif end - pos < FRAME_HEADER:
                    if pos > fwd:
                        pieces.append(view[fwd:pos])
                    self._header += view[pos:end]
                    return pieces
                else:
                    header_start = pos
                    pos += FRAME_HEADER
                    if not self._starts_frame(view[header_start:pos]):
                        if header_start > fwd:
                            pieces.append(view[fwd:header_start])
                        fwd = pos
        if pos > fwd:
            pieces.append(view[fwd:pos])
        return pieces

    def _starts_frame(self, header: bytes | memoryview) -> bool:
        """Account one frame header; False if the frame is captured instead of forwarded."""
        length = int.from_bytes(header[0:3], "big")
        ftype, flags = header[3], header[4]
        stream_id = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
        if length > self.max_frame_size:
            raise FrameTooLarge(length, self.max_frame_size)
        if self._need_settings:
            # §3.4: "This sequence MUST be followed by a SETTINGS frame, which MAY be empty."
            if ftype != SETTINGS or flags & ACK:
                raise PrefaceError(f"connection preface followed by frame type {ftype}, not SETTINGS")
            self._need_settings = False
        expected = _EXACT_LENGTH.get(ftype)
        if (expected is not None and length != expected) or (ftype == GOAWAY and length < 8) or \
                (ftype == SETTINGS and (length % 6 or (flags & ACK and length))):
            raise FrameSizeError(f"frame type {ftype} with invalid length {length}")
        self._on_frame(ftype, flags, length, stream_id)
        self._payload_left = length
        capture = (ftype == GOAWAY and self._frames > 0 and not self._in_header_block
                   and stream_id == 0 and length >= 8)
        self._frames += 1
        if ftype in (HEADERS, PUSH_PROMISE, CONTINUATION):
            if ftype == HEADERS:
                self._headers_fed += 1
            if ftype == CONTINUATION:
                self._block_size += length
                self._block_frames += 1
            else:
                self._block_size, self._block_frames = length, 0
            if self.max_header_block is not None and (self._block_size > self.max_header_block
                                                      or self._block_frames > MAX_CONTINUATIONS):
                raise HeaderBlockTooLarge(f"field block over {self.max_header_block} bytes or "
                                          f"{MAX_CONTINUATIONS} CONTINUATION frames")
            self._in_header_block = not flags & END_HEADERS
        if capture:
            self._capture, self._capture_sid = bytearray(), stream_id
        return not capture
