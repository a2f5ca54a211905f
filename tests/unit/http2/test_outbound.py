"""greenh2.http2.outbound: the response HPACK encoder and the HEADERS/DATA frames greenh2 writes.

Everything encoded is decoded with hpack's own Decoder (an independent RFC 7541 implementation),
block after block, so the dynamic-table model must stay in step with a real peer's table. Frames
written on an Engine are parsed by a real h2 client connection.
"""
import h2.events as ev
import pytest
from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError, StreamClosedError
from h2.settings import SettingCodes
from h2.stream import StreamState
from hpack import Decoder, NeverIndexedHeaderTuple
from hyperframe.frame import ContinuationFrame, HeadersFrame

from greenh2.http2.outbound import ResponseEncoder, headers_frames, integer
from tests.unit.http2.test_engine import REQ, connect, open_stream, parse_frames

HELLO = [(b":status", b"200"), (b"content-type", b"text/plain"), (b"content-length", b"13"),
         (b"date", b"Sun, 29 Nov 2026 20:00:00 GMT"), (b"server", b"greenh2")]


def roundtrip(enc, dec, headers):
    block = enc.encode(headers)
    assert dec.decode(block, raw=True) == [(bytes(n), bytes(v)) for n, v in headers]
    return block


def test_integer_encoding_rfc7541_c1():
    assert integer(10, 5, 0) == b"\x0a"  # C.1.1
    assert integer(1337, 5, 0) == b"\x1f\x9a\x0a"  # C.1.2
    assert integer(42, 8, 0) == b"\x2a"  # C.1.3


def test_repeated_response_shrinks_to_index_bytes():
    enc, dec = ResponseEncoder(), Decoder()
    first = roundtrip(enc, dec, HELLO)
    second = roundtrip(enc, dec, HELLO)
    assert len(second) == 5 and len(first) > 40  # one index byte per field
    assert second[0] == 0x88  # :status 200 is static index 8


def test_date_changes_once_a_second_and_indexes_shift():
    enc, dec = ResponseEncoder(), Decoder()
    roundtrip(enc, dec, HELLO)
    later = HELLO[:3] + [(b"date", b"Sun, 29 Nov 2026 20:00:01 GMT")] + HELLO[4:]
    block = roundtrip(enc, dec, later)
    assert len(block) < 40  # only the new date is a literal (name from the table)
    for _ in range(3):
        assert len(roundtrip(enc, dec, later)) == 5
    roundtrip(enc, dec, HELLO)  # the older date is still in the table


def test_many_distinct_values_evict_and_stay_in_step():
    enc, dec = ResponseEncoder(), Decoder()
    for i in range(2000):
        roundtrip(enc, dec, [(b":status", b"200"), (b"x-id", b"%d" % i), (b"etag", b"v%d" % (i % 7))])
    assert enc._size <= 4096


def test_large_value_not_indexed_and_never_indexed_honoured():
    enc, dec = ResponseEncoder(), Decoder()
    big = (b"x-big", b"v" * 3000)
    block = roundtrip(enc, dec, [big])
    assert block[0] & 0xF0 == 0x00  # §6.2.2 literal without indexing: does not flush the table
    secret = NeverIndexedHeaderTuple(b"set-cookie", b"s=1")
    block = enc.encode([secret])
    assert block[0] & 0xF0 == 0x10  # §6.2.3 never indexed
    decoded = dec.decode(block, raw=True)
    assert decoded == [(b"set-cookie", b"s=1")] and isinstance(decoded[0], NeverIndexedHeaderTuple)
    assert len(enc.encode([secret])) > 3  # still a literal the second time


def test_str_input_accepted():
    enc, dec = ResponseEncoder(), Decoder()
    assert dec.decode(enc.encode([(":status", "404"), ("x-a", "é")]), raw=True) == \
        [(b":status", b"404"), (b"x-a", "é".encode())]


@pytest.mark.parametrize("sizes", [[0], [0, 4096], [1024], [256, 2048, 100, 3000], [4096]])
def test_table_size_changes_signalled_per_rfc7541_4_2(sizes):
    """The smallest size since the last block, then the final one; hpack's decoder (which
    enforces max_allowed_table_size) accepts it and stays in step afterwards."""
    enc, dec = ResponseEncoder(), Decoder()
    roundtrip(enc, dec, HELLO)
    for size in sizes:
        enc.header_table_size = size
    dec.max_allowed_table_size = sizes[-1]
    block = roundtrip(enc, dec, HELLO)
    if sizes != [4096]:  # setting the current size again changes nothing
        low, final = min(sizes), sizes[-1]
        expected = (integer(low, 5, 0x20) if low < final else b"") + integer(final, 5, 0x20)
        assert block.startswith(expected) and block[len(expected)] & 0x80  # then :status 200
        assert dec.header_table_size == final
    for _ in range(3):
        roundtrip(enc, dec, HELLO)
    assert enc._size <= sizes[-1]


def test_zero_table_means_no_indexing():
    enc, dec = ResponseEncoder(), Decoder()
    enc.header_table_size = 0
    dec.max_allowed_table_size = 0
    for _ in range(3):
        roundtrip(enc, dec, HELLO)
    assert enc._size == 0 and not enc._fields


def test_headers_frames_split_into_continuations():
    block = bytes(range(256)) * 100  # 25,600 bytes
    frames = parse_frames(headers_frames(5, block, True, 16384))
    assert isinstance(frames[0], HeadersFrame) and isinstance(frames[1], ContinuationFrame)
    assert "END_STREAM" in frames[0].flags and "END_HEADERS" not in frames[0].flags
    assert "END_HEADERS" in frames[1].flags
    assert frames[0].data + frames[1].data == block


# --- on the engine, read by a real h2 client -----------------------------------------------------

def test_engine_response_read_by_h2_client_and_state_kept_by_h2():
    engine, client = connect()
    sids = [open_stream(engine, client, REQ) for _ in range(3)]
    for sid in sids:
        engine.send_headers(sid, HELLO)
        engine.send_data(sid, b"Hello, world!", end_stream=True)
        assert engine.conn.streams[sid].state_machine.state is StreamState.CLOSED
    events = client.receive_data(engine.take_output())
    got = [(e.stream_id, e.headers) for e in events if isinstance(e, ev.ResponseReceived)]
    assert got == [(sid, HELLO) for sid in sids]
    assert [e.stream_id for e in events if isinstance(e, ev.StreamEnded)] == sids
    assert engine.conn.outbound_flow_control_window == 65535 - 3 * 13


def test_engine_informational_then_final_then_trailers():
    engine, client = connect()
    sid = open_stream(engine, client, REQ)
    engine.send_headers(sid, [(b":status", b"103"), (b"link", b"</a.css>; rel=preload")])
    engine.send_headers(sid, HELLO[:2])
    engine.send_data(sid, b"abc")
    engine.send_headers(sid, [(b"x-checksum", b"1")], end_stream=True)  # trailers
    events = client.receive_data(engine.take_output())
    kinds = [type(e) for e in events if not isinstance(e, ev.RemoteSettingsChanged)]
    assert kinds == [ev.InformationalResponseReceived, ev.ResponseReceived, ev.DataReceived,
                     ev.TrailersReceived, ev.StreamEnded]


def test_engine_rejects_what_h2_rejects():
    engine, client = connect()
    sid = open_stream(engine, client, REQ)
    with pytest.raises(ProtocolError):
        engine.send_headers(sid, [(b":status", b"100")], end_stream=True)
    engine2, client2 = connect()
    sid = open_stream(engine2, client2, REQ)
    engine2.send_headers(sid, HELLO, end_stream=True)
    with pytest.raises(StreamClosedError):  # closed now: h2 decides, as before
        engine2.send_headers(sid, HELLO)
    reset = open_stream(engine2, client2, REQ)
    engine2.reset_stream(reset, ErrorCodes.CANCEL)
    with pytest.raises(StreamClosedError):
        engine2.send_headers(reset, HELLO)


def test_client_lowers_header_table_size_mid_connection():
    engine, client = connect()
    sid = open_stream(engine, client, REQ)
    engine.send_headers(sid, HELLO, end_stream=True)
    client.receive_data(engine.take_output())
    client.update_settings({SettingCodes.HEADER_TABLE_SIZE: 64})
    engine.receive(client.data_to_send())
    client.receive_data(engine.take_output())  # SETTINGS ACK
    assert engine.conn.encoder.header_table_size == 64
    for _ in range(3):
        sid = open_stream(engine, client, REQ)
        engine.send_headers(sid, HELLO, end_stream=True)
        events = client.receive_data(engine.take_output())  # h2's decoder enforces the limit
        assert [e.headers for e in events if isinstance(e, ev.ResponseReceived)] == [HELLO]
    assert engine.conn.encoder._size <= 64

