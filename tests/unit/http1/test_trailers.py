"""HTTP/1.1 trailers (RFC 9112 §7.1.2): the chunked trailer section of a request, read by
BodyReader under the header limits, and the one H1Sink writes for a client that sent TE: trailers."""
import logging

import pytest

from greenh2.config import Config
from greenh2.errors import RemoteProtocolError
from greenh2.http1.body import BodyReader, H1Sink
from greenh2.http1.message import accepts_trailers, parse_request


class FakeTransport:
    """recv() hands out the scripted bytes in small pieces; sendall() records."""

    def __init__(self, data=b"", step=7):
        self.data, self.step, self.sent = data, step, bytearray()

    def recv(self, n):
        piece, self.data = self.data[:min(n, self.step)], self.data[min(n, self.step):]
        return piece

    def sendall(self, data, pace=None):
        self.sent += data

    def settimeout(self, timeout):
        pass


class FakeWire:
    activity = None

    def __init__(self, data=b"", config=None, step=7):
        self.transport = FakeTransport(data, step)
        self.buf = bytearray()
        self.closing = False
        self.config = config or Config()


def request(*headers, method="POST"):
    lines = [f"{method} / HTTP/1.1", "Host: x"] + list(headers)
    return parse_request(("\r\n".join(lines) + "\r\n\r\n").encode(), "http", Config())


def read_body(reader):
    out = bytearray()
    while True:
        data = reader.pull(5)
        if not data:
            return bytes(out)
        out += data


CHUNKED = "Transfer-Encoding: chunked"


@pytest.mark.parametrize("step", [1, 2, 7, 4096])  # drip-fed: every split point of the section
def test_trailer_fields_read_after_the_last_chunk(step):
    wire = FakeWire(b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: 42\r\nX-Other:  v \r\n\r\nNEXT",
                    step=step)
    reader = BodyReader(wire, request(CHUNKED))
    assert reader.trailers() is None
    first = b""
    while len(first) < 3:  # short reads are allowed: a pull returns what has arrived
        first += reader.pull(3 - len(first))
    assert first == b"abc"
    assert reader.trailers() is None  # not at the end yet
    assert read_body(reader) == b"de"
    assert reader.trailers() == [("x-checksum", "42"), ("x-other", "v")]
    assert bytes(wire.buf) + wire.transport.data == b"NEXT"  # the next request's bytes are kept


def test_no_trailer_section_gives_empty_list():
    reader = BodyReader(FakeWire(b"1\r\na\r\n0\r\n\r\n"), request(CHUNKED))
    assert read_body(reader) == b"a" and reader.trailers() == []


def test_content_length_body_has_empty_trailers_once_read():
    reader = BodyReader(FakeWire(b"hello"), request("Content-Length: 5"))
    assert reader.trailers() is None
    assert read_body(reader) == b"hello" and reader.trailers() == []


def test_trailer_fields_count_against_limit_request_fields():
    cfg = Config(limit_request_fields=3)
    ok = b"0\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(3)) + b"\r\n"
    reader = BodyReader(FakeWire(ok, cfg), request(CHUNKED))
    assert read_body(reader) == b"" and len(reader.trailers()) == 3
    too_many = b"0\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(4)) + b"\r\n"
    reader = BodyReader(FakeWire(too_many, cfg), request(CHUNKED))
    with pytest.raises(RemoteProtocolError) as info:
        read_body(reader)
    assert info.value.status == 431 and reader.broken


def test_trailer_field_size_limit():
    cfg = Config(limit_request_field_size=64)
    fits = b"0\r\nX-A: " + b"v" * 59 + b"\r\n\r\n"  # 64 bytes of field line
    reader = BodyReader(FakeWire(fits, cfg), request(CHUNKED))
    assert read_body(reader) == b"" and reader.trailers() == [("x-a", "v" * 59)]
    for line in (b"X-A: " + b"v" * 60 + b"\r\n\r\n", b"X-A: " + b"v" * 5000):  # complete / endless
        reader = BodyReader(FakeWire(b"0\r\n" + line, cfg), request(CHUNKED))
        with pytest.raises(RemoteProtocolError) as info:
            read_body(reader)
        assert info.value.status == 431


@pytest.mark.parametrize("line", [b":method: POST", b"X A: 1", b" X-A: folded", b"no-colon",
                                  b"X-A: a\x00b"])
def test_bad_trailer_lines_are_400(line):
    reader = BodyReader(FakeWire(b"0\r\n" + line + b"\r\n\r\n"), request(CHUNKED))
    with pytest.raises(RemoteProtocolError) as info:
        read_body(reader)
    assert info.value.status == 400


@pytest.mark.parametrize("te,ok", [("trailers", True), ("gzip, trailers", True),
                                   ("TRAILERS", True), ("gzip", False), ("", False),
                                   ("trailersx", False)])
def test_accepts_trailers(te, ok):
    headers = [("te", te)] if te else []
    assert accepts_trailers(headers) is ok


def sink_for(*headers, protocol="HTTP/1.1", method="GET"):
    wire = FakeWire()
    lines = [f"{method} / {protocol}", "Host: x"] + list(headers)
    req = parse_request(("\r\n".join(lines) + "\r\n\r\n").encode(), "http", Config())
    return H1Sink(wire, req), wire.transport


TRAILERS = [("grpc-status", "0"), ("grpc-message", "ok")]


def test_chunked_trailer_section_written_for_te_trailers():
    sink, transport = sink_for("TE: trailers")
    sink.start(200, "OK", [("content-type", "text/plain")], end=False)
    sink.write(b"hello")
    sink.trailers(TRAILERS)
    head, _, body = bytes(transport.sent).partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n"
    assert sink.finished


@pytest.mark.parametrize("headers,why", [
    ((), "did not send 'TE: trailers'"),
    (("TE: trailers",), "not chunked"),  # the app declared Content-Length
])
def test_trailers_dropped_without_te_or_without_chunking(headers, why, caplog):
    sink, transport = sink_for(*headers)
    declared = [("content-length", "5")] if headers else []
    sink.start(200, "OK", declared, end=False)
    sink.write(b"hello")
    with caplog.at_level(logging.DEBUG, logger="greenh2"):
        sink.trailers(TRAILERS)
    body = bytes(transport.sent).partition(b"\r\n\r\n")[2]
    assert body == (b"hello" if declared else b"5\r\nhello\r\n0\r\n\r\n")
    assert b"grpc" not in transport.sent and sink.finished
    assert any("dropping response trailers" in r.getMessage() and why in r.getMessage()
               for r in caplog.records)


def test_http10_response_cannot_carry_trailers():
    sink, transport = sink_for("TE: trailers", protocol="HTTP/1.0")
    sink.start(200, "OK", [], end=False)
    sink.write(b"x")
    sink.trailers(TRAILERS)
    assert bytes(transport.sent).endswith(b"\r\n\r\nx") and b"grpc" not in transport.sent


def test_empty_chunked_body_with_trailers_leaves_with_the_head_in_one_write():
    sink, transport = sink_for("TE: trailers")
    sink.start(200, "OK", [], end=False)
    sink.trailers([("x-t", "1")])
    assert bytes(transport.sent).endswith(b"transfer-encoding: chunked\r\n\r\n0\r\nx-t: 1\r\n\r\n")
