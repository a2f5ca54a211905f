"""RFC 7541 (HPACK) decoding errors: every one is a connection error COMPRESSION_ERROR
(RFC 9113 §4.3), because the decoder state can no longer be trusted."""
from __future__ import annotations

import pytest
from h2.errors import ErrorCodes

from conformance.rawh2 import RawH2


def _base(conn: RawH2) -> bytes:
    """:method GET, :scheme http (static table), :path /hello and :authority as literals."""
    auth = conn.authority.encode()
    return b"\x82\x86\x04\x06/hello\x01" + bytes((len(auth),)) + auth


BAD_BLOCKS = {
    # §2.3.3: index beyond static + dynamic table
    "2.3.3-indexed-out-of-range": lambda b: b + b"\xc6",
    "2.3.3-literal-name-out-of-range": lambda b: b + b"\x7f\x20\x01a",
    # §4.2 / §6.3: a dynamic table size update must be at the start of the block
    "4.2-size-update-at-end": lambda b: b + b"\x3f\xe1\x1f",
    "4.2-size-update-in-middle": lambda b: b[:1] + b"\x20" + b[1:],
    # §6.3: a size update above SETTINGS_HEADER_TABLE_SIZE (4096)
    "6.3-size-update-too-large": lambda b: b"\x3f\xe2\x1f" + b,
    # §5.2: Huffman padding longer than 7 bits, padding not of EOS 1-bits, the EOS symbol
    "5.2-huffman-padding-too-long": lambda b: b + b"\x00\x03x-h\x82\x1f\xff",
    "5.2-huffman-zero-padding": lambda b: b + b"\x00\x03x-h\x81\x18",
    "5.2-huffman-eos": lambda b: b + b"\x00\x03x-h\x84\xff\xff\xff\xff",
    # §5.1: an integer that overflows any sane size; §5.2: a string running past the block
    "5.1-integer-overflow": lambda b: b + b"\x00\x03x-h\x7f\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
    "5.2-string-past-end": lambda b: b + b"\x00\x03x-h\x10abc",
    # §6.1: index 0 is not used
    "6.1-index-zero": lambda b: b + b"\x80",
}


@pytest.mark.parametrize("case", sorted(BAD_BLOCKS))
def test_decoding_error(conn, case):
    conn.send(conn.headers_frame(1, block=BAD_BLOCKS[case](_base(conn))))
    conn.expect_goaway(ErrorCodes.COMPRESSION_ERROR)


def test_decoding_error_in_continuation(conn):
    block = BAD_BLOCKS["2.3.3-indexed-out-of-range"](_base(conn))
    conn.send(conn.headers_frame(1, block=block[:4], end_headers=False),
              conn.continuation(1, block[4:]))
    conn.expect_goaway(ErrorCodes.COMPRESSION_ERROR)


def test_size_updates_at_start_are_valid(conn):
    """§4.2: up to two size updates (the smallest, then the final) at the start of a block."""
    conn.send(conn.headers_frame(1, block=b"\x20\x3f\xe1\x1f" + _base(conn)))
    assert conn.response(1).status == 200


def test_huffman_literals_and_never_indexed(conn):
    """§5.2, §6.2.3: Huffman-coded strings and never-indexed literals decode."""
    from hpack import NeverIndexedHeaderTuple
    headers = conn.request_headers("/environ") + [NeverIndexedHeaderTuple("x-secret", "s3cr3t")]
    conn.send(conn.headers_frame(1, headers))
    resp = conn.response(1)
    assert resp.status == 200 and b'"HTTP_X_SECRET": "s3cr3t"' in resp.body


def test_dynamic_table_shared_across_streams(conn):
    """§2.3.2: entries added on one stream are referenced on the next ones."""
    extra = [("x-repeated", "v" * 100)]
    for sid in (1, 3, 5):
        conn.send(conn.headers_frame(sid, conn.request_headers("/environ", extra=extra)))
        resp = conn.response(sid)
        assert resp.status == 200 and b'"HTTP_X_REPEATED": "' + b"v" * 100 in resp.body


def test_eviction_with_small_table(conn):
    """§4.4: with the table shrunk to 100 octets, entries are evicted and indexes shift."""
    conn.encoder.header_table_size = 100
    for sid in (1, 3, 5, 7):
        extra = [("x-n%d" % sid, "value-%d" % sid), ("x-fixed", "f")]
        conn.send(conn.headers_frame(sid, conn.request_headers("/environ", extra=extra)))
        resp = conn.response(sid)
        assert resp.status == 200 and (b'"HTTP_X_N%d": "value-%d"' % (sid, sid)) in resp.body
