"""Response field blocks and the frames that carry them, written by greenh2 (sans-IO).

Why this module exists: h2 builds a HEADERS frame through hpack's general-purpose encoder
(per-field searches, debug logging, Huffman coding in Python) and hyperframe objects; for a
hello response that was a fifth of the server's CPU. A server's response blocks repeat almost
everything on a connection (`:status 200`, `server`, `content-type`, `date` once a second), so
`ResponseEncoder` keeps a model of the HPACK dynamic table (RFC 7541 §2.3.2, §4) in two dicts
and sends each repeated field as one index byte. It replaces h2's encoder object on the
connection, so every block on the connection shares one compression context (whether greenh2
or h2 frames it), and h2's handling of the peer's SETTINGS_HEADER_TABLE_SIZE lands here.

Encoding choices (all RFC 7541): static-table matches are indexed (§6.1); other fields are
literals with incremental indexing (§6.2.1) when their entry fits in half the table, else
literals without indexing (§6.2.2); `NeverIndexedHeaderTuple` fields are never indexed
(§6.2.3, §7.1.3); strings are sent raw (H=0; Huffman in Python costs more CPU than it saves on
a local link). A table size change from the peer is signalled at the start of the next block:
the smallest size reached since the last block, then the final one (§4.2, §6.3).
"""
from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from typing import Any

from h2.connection import ConnectionInputs, ConnectionState, H2Connection
from h2.exceptions import ProtocolError
from h2.stream import StreamInputs, StreamState
from hpack import Encoder, NeverIndexedHeaderTuple
from hpack.table import HeaderTable

_STATIC = HeaderTable.STATIC_TABLE
STATIC_FIELDS: dict[tuple[bytes, bytes], int] = {}
STATIC_NAMES: dict[bytes, int] = {}
for _i, (_n, _v) in enumerate(_STATIC, 1):
    STATIC_FIELDS.setdefault((_n, _v), _i)
    STATIC_NAMES.setdefault(_n, _i)
_STATIC_COUNT = len(_STATIC)  # 61: the first dynamic entry is index 62 (§2.3.3)
ENTRY_OVERHEAD = 32  # §4.1

_FRAME_HEADER = struct.Struct(">BHBBL").pack  # 24-bit length, type, flags, stream id (§4.1)
DATA, HEADERS, CONTINUATION = 0x0, 0x1, 0x9
END_STREAM, END_HEADERS = 0x1, 0x4


def integer(value: int, prefix_bits: int, first: int) -> bytes:
    """RFC 7541 §5.1: `value` with an N-bit prefix; `first` holds the representation bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    """§5.2, H=0."""
    return integer(len(data), 7, 0) + data


def _as_bytes(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")


class ResponseEncoder(Encoder):
    """An HPACK encoder with the dynamic table kept as dicts (see the module docstring)."""

    def __init__(self, max_size: int = 4096) -> None:
        super().__init__()  # hpack's attributes stay valid for anything that reads them
        self._max = max_size
        self._size = 0
        self._inserted = 0  # entries ever inserted; entry `serial` has index 62 + inserted - serial
        self._entries: deque[tuple[tuple[bytes, bytes], int, int]] = deque()  # oldest first
        self._fields: dict[tuple[bytes, bytes], int] = {}  # field -> serial
        self._names: dict[bytes, int] = {}  # name -> serial of its newest entry
        self._resizes: list[int] = []  # table size changes not yet signalled (§4.2)

    # h2 sets this when the peer's SETTINGS_HEADER_TABLE_SIZE changes (RFC 9113 §6.5.2).
    @property
    def header_table_size(self) -> int:
        return self._max

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        if value == self._max and not self._resizes:
            return
        self._max = value
        self._resizes.append(value)
        self._evict(0)

    def _evict(self, room: int) -> None:
        """§4.4: drop the oldest entries until `room` more octets fit."""
        entries, limit = self._entries, self._max - room
        while self._size > limit and entries:
            field, size, serial = entries.popleft()
            self._size -= size
            if self._fields.get(field) == serial:
                del self._fields[field]
            if self._names.get(field[0]) == serial:
                del self._names[field[0]]

    def _insert(self, field: tuple[bytes, bytes], size: int) -> None:
        self._evict(size)
        self._inserted += 1
        serial = self._inserted
        self._entries.append((field, size, serial))
        self._size += size
        self._fields[field] = serial
        self._names[field[0]] = serial

    def _size_updates(self) -> bytes:
        """§4.2/§6.3: the smallest size since the last block, then the final size."""
        sizes, self._resizes = self._resizes, []
        low, final = min(sizes), sizes[-1]
        out = integer(low, 5, 0x20) if low < final else b""
        return out + integer(final, 5, 0x20)

    def encode(self, headers: Iterable[Any], huffman: bool = True) -> bytes:
        """One field block. `headers`: (name, value) pairs of bytes (str is UTF-8 encoded)."""
        out = bytearray(self._size_updates()) if self._resizes else bytearray()
        fields, inserted = self._fields, self._inserted
        for item in headers:
            field = item if type(item) is tuple and type(item[0]) is bytes and \
                type(item[1]) is bytes else (_as_bytes(item[0]), _as_bytes(item[1]))
            serial = fields.get(field)
            if serial is not None and not isinstance(item, NeverIndexedHeaderTuple):
                index = 62 + inserted - serial
                out += bytes((0x80 | index,)) if index < 127 else integer(index, 7, 0x80)
                continue
            static = STATIC_FIELDS.get(field)
            if static is not None and not isinstance(item, NeverIndexedHeaderTuple):
                out += bytes((0x80 | static,))
                continue
            out += self._literal(field, isinstance(item, NeverIndexedHeaderTuple))
            inserted = self._inserted
        return bytes(out)

    def _literal(self, field: tuple[bytes, bytes], never: bool) -> bytes:
        name, value = field
        name_index = STATIC_NAMES.get(name)
        if name_index is None:
            serial = self._names.get(name)
            name_index = 62 + self._inserted - serial if serial is not None else 0
        size = len(name) + len(value) + ENTRY_OVERHEAD
        if never or size > self._max // 2:
            head = integer(name_index, 4, 0x10 if never else 0x00)  # §6.2.3 / §6.2.2
        else:
            head = integer(name_index, 6, 0x40)  # §6.2.1: literal with incremental indexing
            self._insert(field, size)
        return head + (b"" if name_index else _string(name)) + _string(value)


def headers_frames(stream_id: int, block: bytes, end_stream: bool, frame_max: int) -> bytes:
    """HEADERS (+ CONTINUATION frames when the block exceeds the peer's max frame size),
    RFC 9113 §6.2, §6.10. END_STREAM goes on the HEADERS frame, END_HEADERS on the last."""
    size = len(block)
    flags = END_STREAM if end_stream else 0
    if size <= frame_max:
        return _FRAME_HEADER(size >> 16, size & 0xFFFF, HEADERS, flags | END_HEADERS,
                             stream_id) + block
    out = bytearray(_FRAME_HEADER(frame_max >> 16, frame_max & 0xFFFF, HEADERS, flags, stream_id))
    out += block[:frame_max]
    pos = frame_max
    while pos < size:
        step = min(frame_max, size - pos)
        last = END_HEADERS if pos + step == size else 0
        out += _FRAME_HEADER(step >> 16, step & 0xFFFF, CONTINUATION, last, stream_id)
        out += block[pos:pos + step]
        pos += step
    return bytes(out)


_SENDABLE = (StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE)


def sendable_stream(conn: H2Connection, stream_id: int) -> Any:
    """h2's stream object when h2 says both the connection and the stream may send (RFC 9113
    §5.1: open or half-closed (remote)); None otherwise (then h2 itself sends, or raises)."""
    stream = conn.streams.get(stream_id)
    if stream is None or stream.state_machine.state not in _SENDABLE \
            or conn.state_machine.state is not ConnectionState.SERVER_OPEN:
        return None
    return stream


def write_headers(conn: H2Connection, out: bytearray, stream_id: int,
                  headers: list[tuple[bytes, bytes]], end_stream: bool) -> bool:
    """Response HEADERS framed here; h2's state machines are driven with the same inputs
    h2.send_headers gives them (so h2 keeps owning stream state), the block comes from the
    connection's one encoder. False when the stream is not sendable: the caller asks h2."""
    stream = sendable_stream(conn, stream_id)
    if stream is None:
        return False
    informational = headers[0][0] == b":status" and headers[0][1][:1] == b"1"
    if informational and end_stream:
        raise ProtocolError("Cannot set END_STREAM on informational responses.")
    conn.state_machine.process_input(ConnectionInputs.SEND_HEADERS)
    machine = stream.state_machine
    machine.process_input(StreamInputs.SEND_INFORMATIONAL_HEADERS if informational
                          else StreamInputs.SEND_HEADERS)
    if end_stream:
        machine.process_input(StreamInputs.SEND_END_STREAM)
    elif machine.trailers_sent:
        raise ProtocolError("Trailers must have END_STREAM set.")
    block = conn.encoder.encode(headers)
    out += headers_frames(stream_id, block, end_stream, conn.max_outbound_frame_size)
    return True


def write_last_data(conn: H2Connection, out: bytearray, stream_id: int, data: memoryview) -> bool:
    """The DATA frame that ends a response (END_STREAM), framed here the way h2.send_data does
    it: both state machines driven, both windows charged (RFC 9113 §6.1, §6.9). The caller
    has checked that `data` fits the windows and the peer's max frame size."""
    stream = sendable_stream(conn, stream_id)
    if stream is None:
        return False
    size = len(data)
    conn.state_machine.process_input(ConnectionInputs.SEND_DATA)
    stream.state_machine.process_input(StreamInputs.SEND_DATA)
    stream.state_machine.process_input(StreamInputs.SEND_END_STREAM)
    out += _FRAME_HEADER(size >> 16, size & 0xFFFF, DATA, END_STREAM, stream_id)
    out += data
    stream.outbound_flow_control_window -= size
    conn.outbound_flow_control_window -= size
    return True


def write_open_data(conn: H2Connection, out: bytearray, stream_id: int, view: memoryview,
                    limit: int, frame_max: int) -> int:
    """DATA frames without END_STREAM for the first `limit` bytes of `view`, framed here instead
    of through h2's per-frame objects (the hot path of downloads and event streams). h2's state
    machine is consulted, not copied: only a stream h2 says is open for sending qualifies, no
    state changes, and both flow-control windows are charged exactly as h2.send_data does
    (RFC 9113 §6.9). Returns the bytes framed (0: leave it to h2)."""
    stream = sendable_stream(conn, stream_id) if limit > 0 else None
    if stream is None:
        return 0
    sent = 0
    while limit - sent > 0:
        step = min(frame_max, limit - sent)
        out += _FRAME_HEADER(step >> 16, step & 0xFFFF, DATA, 0, stream_id)
        out += view[sent:sent + step]
        sent += step
    conn.outbound_flow_control_window -= sent
    stream.outbound_flow_control_window -= sent
    return sent
