"""RFC 9113 §6: frame definitions (DATA ... CONTINUATION)."""
from __future__ import annotations

from h2.errors import ErrorCodes

from conformance.rawh2 import (
    ACK,
    DATA,
    GOAWAY,
    HEADERS,
    PING,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    RawH2,
    data_frame,
    frame,
    goaway_frame,
    ping_frame,
    priority_frame,
    rst_stream,
    settings_frame,
    window_update,
)

MAX_WINDOW = 2**31 - 1


def _post(conn: RawH2, sid: int, path: str = "/sha256", extra=()) -> bytes:
    return conn.headers_frame(sid, conn.request_headers(path, "POST", list(extra)), end_stream=False)


class TestS6_1Data:
    def test_stream_zero(self, conn):
        conn.send(data_frame(0, b"x"))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_padded_data_accepted_padding_not_delivered(self, conn):
        conn.send(_post(conn, 1), data_frame(1, b"abc", pad=10), data_frame(1, b"de", True, pad=0))
        resp = conn.response(1)
        assert resp.status == 200 and b'"bytes": 5' in resp.body

    def test_invalid_pad_length(self, conn):
        """§6.1: padding length >= frame payload length is a connection PROTOCOL_ERROR."""
        conn.send(_post(conn, 1), frame(DATA, 0x8 | 0x1, 1, b"\x05abc"))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_pad_length_equal_to_payload(self, conn):
        conn.send(_post(conn, 1), frame(DATA, 0x8, 1, b"\x04abc"))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_padded_without_pad_length_octet(self, conn):
        conn.send(_post(conn, 1), frame(DATA, 0x8, 1, b""))
        f = conn.read_until(lambda fr: fr.type == GOAWAY)
        assert f is not None and f.error_code in (ErrorCodes.PROTOCOL_ERROR,
                                                  ErrorCodes.FRAME_SIZE_ERROR), conn.received


class TestS6_2Headers:
    def test_stream_zero(self, conn):
        conn.send(conn.headers_frame(0))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_padded_and_priority_accepted(self, conn):
        conn.send(conn.headers_frame(1, pad=7, priority=(0, 200)))
        assert conn.response(1).status == 200

    def test_invalid_pad_length(self, conn):
        block = conn.encode(conn.request_headers())
        conn.send(frame(HEADERS, 0x8 | 0x4 | 0x1, 1, bytes((len(block) + 1,)) + block))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_headers_without_end_headers_then_priority(self, conn):
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block, end_headers=False), priority_frame(1))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_headers_without_end_headers_then_headers(self, conn):
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block, end_headers=False),
                  conn.headers_frame(1, block=block))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)


class TestS6_3Priority:
    def test_stream_zero(self, conn):
        conn.send(priority_frame(0, 1))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)


class TestS6_4RstStream:
    def test_stream_zero(self, conn):
        conn.send(rst_stream(0))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_wrong_length(self, conn):
        conn.get(1, "/sleep?s=1")
        conn.send(frame(RST_STREAM, 0, 1, b"\0\0\0\0\0"))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR)

    def test_reset_stops_stream(self, conn):
        """§6.4: after RST_STREAM the server sends nothing more on the stream."""
        conn.get(1, "/slow-stream?n=20&delay=0.05")
        conn.read_until(lambda fr: fr.type == DATA and fr.stream_id == 1)
        conn.send(rst_stream(1))
        conn.expect_alive()
        before = len([f for f in conn.received if f.stream_id == 1])
        conn.read_until(lambda fr: False, timeout=0.4)
        after = [f for f in conn.received if f.stream_id == 1][before:]
        assert not after, after


class TestS6_5Settings:
    def test_ack_with_payload(self, conn):
        conn.send(frame(SETTINGS, ACK, 0, b"\0\x03\0\0\0\x01"))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR)

    def test_nonzero_stream(self, conn):
        conn.send(frame(SETTINGS, 0, 1, b"\0\x03\0\0\0\x01"))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_length_not_multiple_of_six(self, conn):
        conn.send(frame(SETTINGS, 0, 0, b"\0\x03\0\0\0\x01\0"))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR)

    def test_settings_acknowledged(self, conn):
        """§6.5.3: a SETTINGS frame is answered by SETTINGS with ACK and an empty payload."""
        n = len([f for f in conn.received if f.type == SETTINGS and f.flags & ACK])
        conn.send(settings_frame({4: 100000}))
        f = conn.read_until(lambda fr: fr.type == SETTINGS and fr.flags & ACK
                            and len([g for g in conn.received if g.type == SETTINGS
                                     and g.flags & ACK]) > n)
        assert f is not None and f.payload == b""

    # -- §6.5.2 values -------------------------------------------------------------------------
    def test_enable_push_invalid(self, conn):
        conn.send(settings_frame({2: 2}))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_initial_window_too_large(self, conn):
        conn.send(settings_frame({4: 2**31}))
        conn.expect_goaway(ErrorCodes.FLOW_CONTROL_ERROR)

    def test_max_frame_size_too_small(self, conn):
        conn.send(settings_frame({5: 16383}))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_max_frame_size_too_large(self, conn):
        conn.send(settings_frame({5: 2**24}))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_unknown_setting_ignored(self, conn):
        conn.send(settings_frame({0xFF: 1, 0x4242: 0xFFFFFFFF}))
        conn.get(1)
        assert conn.response(1).status == 200


class TestS6_7Ping:
    def test_ping_answered_with_same_payload(self, conn):
        conn.send(ping_frame(b"\x00\x01\x02\x03\xfc\xfd\xfe\xff"))
        f = conn.read_until(lambda fr: fr.type == PING)
        assert f is not None and f.flags == ACK and f.payload == b"\x00\x01\x02\x03\xfc\xfd\xfe\xff"

    def test_ping_ack_not_answered(self, conn):
        conn.send(ping_frame(b"unasked!", ack=True))
        conn.expect_alive()
        assert not [f for f in conn.received if f.type == PING and f.payload == b"unasked!"]

    def test_nonzero_stream(self, conn):
        conn.send(ping_frame(stream_id=1))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)


class TestS6_8Goaway:
    def test_nonzero_stream(self, conn):
        conn.send(goaway_frame(0, 0, stream_id=1))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_too_short(self, conn):
        conn.send(frame(GOAWAY, 0, 0, b"\0\0\0\0"))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR)

    def test_graceful_goaway_finishes_streams_in_flight(self, conn):
        """§6.8: streams up to the last id still complete after the client's GOAWAY."""
        conn.get(1, "/sleep?s=0.3")
        conn.send(goaway_frame(0, 0))
        resp = conn.response(1)
        assert resp.status == 200 and resp.ended
        conn.expect_closed()

    def test_unknown_error_code(self, conn):
        """§7: unknown error codes MUST NOT trigger special behavior."""
        conn.get(1, "/sleep?s=0.3")
        conn.send(goaway_frame(0, 0xDEAD))
        f = conn.read_until(lambda fr: fr.type == GOAWAY or fr.type == RST_STREAM
                            or (fr.stream_id == 1 and fr.flags & 0x1))
        assert f is None or f.type != GOAWAY or f.error_code == ErrorCodes.NO_ERROR, f


class TestS6_9WindowUpdate:
    def test_connection_zero_increment(self, conn):
        conn.send(window_update(0, 0))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_stream_zero_increment(self, conn):
        conn.get(1, "/sleep?s=0.5")
        conn.send(window_update(1, 0))
        conn.expect_stream_error(1, ErrorCodes.PROTOCOL_ERROR)

    def test_wrong_length(self, conn):
        conn.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\x01\0"))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR)

    # -- §6.9.1 the flow-control window ---------------------------------------------------------
    def test_initial_window_of_one(self, connect):
        """§6.9.1: with SETTINGS_INITIAL_WINDOW_SIZE 1 the server sends a 1-octet DATA frame."""
        c = connect(auto_window=False)
        c.send(settings_frame([(4, 100), (4, 1)]))  # §6.5.3: processed in order
        c.read_until(lambda fr: fr.type == SETTINGS and fr.flags & ACK and
                     len([g for g in c.received if g.type == SETTINGS and g.flags & ACK]) >= 2)
        c.get(1)
        f = c.read_until(lambda fr: fr.type == DATA and fr.stream_id == 1)
        assert f is not None and len(f.payload) == 1, c.received
        c.send(window_update(1, 100))
        resp = c.response(1)
        assert bytes(resp.body) == b"Hello, world!\n"

    def test_connection_window_overflow(self, conn):
        conn.send(window_update(0, MAX_WINDOW))
        conn.expect_goaway(ErrorCodes.FLOW_CONTROL_ERROR)

    def test_stream_window_overflow(self, conn):
        conn.get(1, "/sleep?s=0.5")
        conn.send(window_update(1, MAX_WINDOW))
        conn.expect_stream_error(1, ErrorCodes.FLOW_CONTROL_ERROR)
        conn.get(3)

    def test_stream_window_exactly_max(self, conn):
        conn.get(1, "/sleep?s=0.2")
        conn.send(window_update(1, MAX_WINDOW - 65535), window_update(0, MAX_WINDOW - 65535))
        assert conn.response(1).status == 200

    def test_client_exceeds_stream_receive_window(self, conn):
        """§6.9.1: DATA beyond the window the server advertised is FLOW_CONTROL_ERROR."""
        window = conn.server_settings.get(4, 65535)
        conn.send(_post(conn, 1, "/sleep?s=2"))
        chunk = b"z" * 16384
        sent = 0
        while sent + len(chunk) <= window:
            conn.send(data_frame(1, chunk))
            sent += len(chunk)
        conn.send(data_frame(1, b"z" * (window - sent + 1)))
        conn.expect_stream_error(1, ErrorCodes.FLOW_CONTROL_ERROR)

    def test_client_exceeds_connection_receive_window(self, start_server):
        srv = start_server(["--connection-window-size", "65535", "--initial-window-size", "65535"])
        with RawH2(srv.port) as c:
            c.send(_post(c, 1, "/sleep?s=2"), _post(c, 3, "/sleep?s=2"))
            for _ in range(3):
                c.send(data_frame(1, b"a" * 16384))
            c.send(data_frame(1, b"a" * 16383))  # stream 1 and the connection are now full
            c.send(data_frame(3, b"b"))
            c.expect_goaway(ErrorCodes.FLOW_CONTROL_ERROR)

    # -- §6.9.2 initial window size --------------------------------------------------------------
    def test_window_size_change_after_headers(self, connect):
        c = connect(settings={4: 0}, auto_window=False)
        c.get(1)
        f = c.read_until(lambda fr: fr.type == HEADERS and fr.stream_id == 1)
        assert f is not None
        c.read_until(lambda fr: False, timeout=0.2)
        assert not [g for g in c.received if g.type == DATA and g.payload]
        c.send(settings_frame({4: 65535}))
        assert bytes(c.response(1).body) == b"Hello, world!\n"

    def test_negative_window(self, connect):
        """§6.9.2: a SETTINGS change can make a window negative; the sender waits for credit."""
        c = connect(auto_window=False)
        c.get(1, "/download?n=70000")
        c.read_until(lambda fr: sum(len(g.payload) for g in c.received
                                    if g.type == DATA) >= 65535, timeout=5)
        c.send(settings_frame({4: 65535 - 1000}))  # stream window now -1000
        c.send(window_update(0, 10**6), window_update(1, 1000))
        c.read_until(lambda fr: False, timeout=0.3)
        assert sum(len(g.payload) for g in c.received if g.type == DATA) == 65535
        c.send(window_update(1, 10**6))
        resp = c.response(1)
        assert len(resp.body) == 70000

    def test_initial_window_change_overflows_stream_window(self, conn):
        """§6.9.2: a change of SETTINGS_INITIAL_WINDOW_SIZE that makes any window exceed
        2^31-1 is a connection FLOW_CONTROL_ERROR."""
        conn.get(1, "/sleep?s=1")
        conn.send(window_update(1, MAX_WINDOW - 65535))
        conn.expect_alive()
        conn.send(settings_frame({4: 65536}))
        conn.expect_goaway(ErrorCodes.FLOW_CONTROL_ERROR)


class TestS6_10Continuation:
    def test_multiple_continuations(self, conn):
        block = conn.encode(conn.request_headers() + [("x-pad", "p" * 50)])
        conn.send(conn.headers_frame(1, block=block[:10], end_headers=False),
                  conn.continuation(1, block[10:20], end_headers=False),
                  conn.continuation(1, b"", end_headers=False),
                  conn.continuation(1, block[20:]))
        assert conn.response(1).status == 200

    def test_continuation_then_other_frame(self, conn):
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:5], end_headers=False),
                  conn.continuation(1, block[5:8], end_headers=False), ping_frame())
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_continuation_stream_zero(self, conn):
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:5], end_headers=False),
                  conn.continuation(0, block[5:]))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_continuation_other_stream(self, conn):
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:5], end_headers=False),
                  conn.continuation(3, block[5:]))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_continuation_after_end_headers(self, conn):
        conn.send(conn.headers_frame(1, end_stream=False), conn.continuation(1, b""))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_continuation_after_continuation_with_end_headers(self, conn):
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:5], end_headers=False, end_stream=False),
                  conn.continuation(1, block[5:]), conn.continuation(1, b""))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_continuation_after_data(self, conn):
        conn.send(_post(conn, 1), data_frame(1, b"x"), conn.continuation(1, b""))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)
