"""RFC 9113 §4: frame format, frame size, field section compression."""
from __future__ import annotations

from h2.errors import ErrorCodes

from conformance.rawh2 import DATA, PING, data_frame, frame, priority_frame


class TestS4_1FrameFormat:
    def test_unknown_frame_type_is_ignored(self, conn):
        """§4.1/§5.5: frames of unknown type MUST be ignored."""
        conn.send(frame(0x42, 0, 0, b"whatever"), frame(0xFF, 0xFF, 1, b"x" * 20))
        conn.expect_alive()

    def test_undefined_flags_are_ignored(self, conn):
        """§4.1: flags with no defined meaning MUST be ignored."""
        conn.send(frame(PING, 0x16, 0, b"abcdefgh"))
        f = conn.read_until(lambda fr: fr.type == PING)
        assert f is not None and f.flags == 0x1 and f.payload == b"abcdefgh"
        # HEADERS with undefined flags 0x2 and 0x40 set still opens a normal request
        raw = bytearray(conn.headers_frame(1))
        raw[4] |= 0x02 | 0x40
        conn.send(bytes(raw))
        assert conn.response(1).status == 200

    def test_reserved_bit_is_ignored(self, conn):
        """§4.1: the reserved bit of the stream identifier MUST be ignored on receipt."""
        raw = bytearray(conn.headers_frame(1))
        raw[5] |= 0x80
        conn.send(bytes(raw))
        assert conn.response(1).status == 200


class TestS4_2FrameSize:
    def test_data_of_max_frame_size_is_accepted(self, conn):
        """§4.2: every implementation MUST accept frames up to 2^14 octets."""
        conn.send(conn.headers_frame(1, conn.request_headers("/sha256", "POST"), end_stream=False),
                  data_frame(1, b"a" * 16384, end_stream=True))
        resp = conn.response(1)
        assert resp.status == 200 and b'"bytes": 16384' in resp.body

    def test_data_exceeding_max_frame_size(self, conn):
        """§4.2: a frame above SETTINGS_MAX_FRAME_SIZE is FRAME_SIZE_ERROR."""
        conn.send(conn.headers_frame(1, conn.request_headers("/sha256", "POST"), end_stream=False),
                  data_frame(1, b"a" * 16385, end_stream=True))
        conn.expect_stream_error(1, ErrorCodes.FRAME_SIZE_ERROR)

    def test_headers_exceeding_max_frame_size(self, conn):
        """§4.2: a frame that could alter the state of the whole connection (here a header block)
        above the limit MUST be a connection error FRAME_SIZE_ERROR."""
        block = conn.encode(conn.request_headers() + [("x-big", "v" * 16400)], huffman=False)
        conn.send(conn.headers_frame(1, block=block))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR)

    def test_length_refused_at_the_header(self, conn):
        """§4.2: a frame header announcing 16 MiB is refused before its payload arrives."""
        conn.send(frame(DATA, 0, 1, b"", length=0xFFFFFF))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR, timeout=3)

    def test_ping_wrong_length_is_frame_size_error(self, conn):
        """§4.2 / §6.7: PING with a length other than 8."""
        conn.send(frame(PING, 0, 0, b"123456"))
        conn.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR)

    def test_priority_wrong_length(self, conn):
        """§6.3: PRIORITY with a length other than 5 is a stream error FRAME_SIZE_ERROR."""
        conn.send(frame(2, 0, 1, b"\0\0\0\0\x10\x01"))
        conn.expect_stream_error(1, ErrorCodes.FRAME_SIZE_ERROR)


class TestS4_3FieldSectionCompression:
    def test_invalid_header_block_fragment(self, conn):
        """§4.3: a field block that cannot be decompressed is COMPRESSION_ERROR."""
        # literal with incremental indexing, new name; name length claims 127+ but is cut short
        conn.send(conn.headers_frame(1, block=b"\x40\x7f\xff\xff\xff\xff\x7f"))
        conn.expect_goaway(ErrorCodes.COMPRESSION_ERROR)

    def test_priority_inside_header_block(self, conn):
        """§4.3: a field block MUST be a contiguous sequence of frames; a PRIORITY between
        HEADERS and CONTINUATION is a connection error PROTOCOL_ERROR."""
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:5], end_headers=False), priority_frame(1, 0),
                  conn.continuation(1, block[5:]))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_headers_on_other_stream_inside_header_block(self, conn):
        """§4.3: HEADERS for another stream in the middle of a field block."""
        block = conn.encode(conn.request_headers())
        other = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:5], end_headers=False),
                  conn.headers_frame(3, block=other))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_data_inside_header_block(self, conn):
        """§6.10: DATA where CONTINUATION is expected is a PROTOCOL_ERROR."""
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:5], end_headers=False, end_stream=False),
                  data_frame(1, b"x"))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_decoding_state_kept_after_refused_stream(self, conn):
        """§4.3: a field block is decoded even when its stream is refused or reset, so the HPACK
        dynamic table stays in step; the request after it decodes correctly."""
        conn.send(conn.headers_frame(1, conn.request_headers("/hello", extra=[("x-a", "1")]),
                                     end_stream=False))
        conn.send(frame(3, 0, 1, b"\0\0\0\x08"))  # RST_STREAM(CANCEL) from us
        conn.send(conn.headers_frame(3, conn.request_headers("/hello", extra=[("x-a", "1")])))
        assert conn.response(3).status == 200
        conn.expect_alive()
