"""max_body_size on HTTP/1.1, sans-IO: the BodyReader over an in-memory transport (README:
Request body size)."""
import pytest

from greenh2.config import Config
from greenh2.errors import RequestBodyTooLarge
from greenh2.http1.body import DISCARD_MAX, BodyReader
from greenh2.http1.message import parse_request

CAP = 1000


class Transport:
    def __init__(self, data):
        self.data, self.sent = bytearray(data), []

    def recv(self, n):
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def sendall(self, data, pace=None):
        self.sent.append(bytes(data))

    def settimeout(self, timeout):
        pass


class Conn:
    activity = None

    def __init__(self, data, cap=CAP):
        self.transport = Transport(data)
        self.buf = bytearray()
        self.closing = False
        self.config = Config(max_body_size=cap)


def reader(fields, body=b"", cap=CAP):
    conn = Conn(body, cap)
    head = ("POST /up HTTP/1.1\r\nHost: x\r\n" + "".join(f + "\r\n" for f in fields) + "\r\n")
    req = parse_request(head.encode(), "http", conn.config)
    return BodyReader(conn, req), req, conn


def chunked(*sizes):
    return b"".join(b"%x\r\n%s\r\n" % (n, b"x" * n) for n in sizes) + b"0\r\n\r\n"


def read_all(body, size=65536):
    parts = []
    while True:
        data = body.pull(size)
        if not data:
            return b"".join(parts)
        parts.append(data)


@pytest.mark.parametrize("size", [1, 7, 100, 65536])
def test_chunked_body_of_exactly_the_cap(size):
    body, req, _ = reader(["Transfer-Encoding: chunked"], chunked(300, 700))
    assert read_all(body, size) == b"x" * CAP
    assert body.done and not body.too_large and req.keep_alive


@pytest.mark.parametrize("size", [1, 7, 100, 65536])
def test_chunked_body_past_the_cap_raises_at_the_first_byte_over(size):
    body, req, _ = reader(["Transfer-Encoding: chunked"], chunked(600, 401))
    got = bytearray()
    with pytest.raises(RequestBodyTooLarge):
        while True:
            got += body.pull(size)
    assert bytes(got) == b"x" * CAP  # everything under the cap was handed out
    assert body.too_large and not req.keep_alive  # the connection closes after the response
    with pytest.raises(RequestBodyTooLarge):
        body.pull(size)
    assert not body.discard()


def test_content_length_at_the_cap_is_not_limited():
    body, req, _ = reader([f"Content-Length: {CAP}"], b"y" * CAP)
    assert read_all(body) == b"y" * CAP and req.keep_alive


def test_small_declared_body_over_the_cap_is_drained_for_keep_alive():
    body, req, _ = reader(["Content-Length: 5000"], b"z" * 5000 + b"GET / HTTP/1.1\r\n")
    assert req.keep_alive  # the 413 (dispatch.py) keeps the connection
    assert body.discard() and body.done


@pytest.mark.parametrize("fields", [[f"Content-Length: {DISCARD_MAX + 1}"],
                                    ["Content-Length: 5000", "Expect: 100-continue"]])
def test_declared_body_over_the_cap_not_drained_closes(fields):
    body, req, conn = reader(fields, b"z" * 5000)
    assert not req.keep_alive  # the 413 says connection: close
    assert not body.discard()
    assert conn.transport.sent == []  # no 100 Continue, nothing read
    assert len(conn.transport.data) == 5000


def test_expect_continue_under_the_cap_still_gets_100():
    body, _, conn = reader(["Content-Length: 10", "Expect: 100-continue"], b"q" * 10)
    assert read_all(body) == b"q" * 10
    assert conn.transport.sent == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_no_cap():
    body, req, _ = reader(["Transfer-Encoding: chunked"], chunked(60000, 60000), cap=0)
    assert len(read_all(body)) == 120000 and req.keep_alive and body.received == 0
