"""greenh2.http1.connection.parse_request and wants_h2c: pure functions over a request head."""
import pytest

from greenh2.config import Config
from greenh2.errors import RemoteProtocolError
from greenh2.http1.message import parse_request, wants_h2c

CFG = Config()


def head(*lines, request_line="GET / HTTP/1.1"):
    return ("\r\n".join((request_line,) + lines) + "\r\n\r\n").encode("latin-1")


def parse(data, config=CFG, scheme="http"):
    return parse_request(data, scheme, config)


def status_of(data, config=CFG):
    with pytest.raises(RemoteProtocolError) as info:
        parse(data, config)
    return info.value.status


# --- good requests ------------------------------------------------------------------------------

def test_simple_get():
    req = parse(head("Host: example.com", "Accept: */*", "X-Multi: a", "X-Multi: b",
                     request_line="GET /path?q=1 HTTP/1.1"))
    h = req.head
    assert (h.method, h.target, h.protocol) == ("GET", "/path?q=1", "HTTP/1.1")
    assert h.headers == [("host", "example.com"), ("accept", "*/*"), ("x-multi", "a"),
                         ("x-multi", "b")]
    assert h.authority == "example.com" and h.scheme == "http"
    assert req.keep_alive and not req.chunked and req.length is None
    assert h.body_length == 0 and not req.expect_continue


def test_header_names_lowercased_values_trimmed():
    req = parse(head("HOST: a", "X-Thing: \t spaced value \t ", "Empty:"))
    assert req.head.headers == [("host", "a"), ("x-thing", "spaced value"), ("empty", "")]


def test_content_length():
    req = parse(head("Host: a", "Content-Length: 42", request_line="POST /up HTTP/1.1"))
    assert req.length == 42 and req.head.body_length == 42 and not req.chunked


def test_identical_duplicate_content_length_is_accepted():
    req = parse(head("Host: a", "Content-Length: 5", "Content-Length: 5",
                     request_line="POST / HTTP/1.1"))
    assert req.length == 5


@pytest.mark.parametrize("te", ["chunked", "Chunked", "CHUNKED", " chunked "])
def test_chunked(te):
    req = parse(head("Host: a", f"Transfer-Encoding: {te}", request_line="POST / HTTP/1.1"))
    assert req.chunked and req.length is None and req.head.body_length is None


def test_scheme_passed_through():
    assert parse(head("Host: a"), scheme="https").head.scheme == "https"


# --- keep-alive ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version,connection,keep", [
    ("HTTP/1.1", None, True),
    ("HTTP/1.1", "close", False),
    ("HTTP/1.1", "Close", False),
    ("HTTP/1.1", "keep-alive", True),
    ("HTTP/1.1", "foo, close", False),
    ("HTTP/1.1", "Upgrade", True),
    ("HTTP/1.0", None, False),
    ("HTTP/1.0", "keep-alive", True),
    ("HTTP/1.0", "Keep-Alive", True),
    ("HTTP/1.0", "foo, keep-alive", True),
    ("HTTP/1.0", "close", False),
])
def test_keep_alive_rules(version, connection, keep):
    lines = ["Host: a"] + ([f"Connection: {connection}"] if connection else [])
    assert parse(head(*lines, request_line=f"GET / {version}")).keep_alive is keep


def test_http10_without_host_is_fine():
    req = parse(head(request_line="GET / HTTP/1.0"))
    assert req.head.protocol == "HTTP/1.0" and req.head.authority == ""


@pytest.mark.parametrize("version,expected", [("HTTP/1.1", True), ("HTTP/1.0", False)])
def test_expect_continue(version, expected):
    req = parse(head("Host: a", "Expect: 100-continue", "Content-Length: 3",
                     request_line=f"POST / {version}"))
    assert req.expect_continue is expected


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "GET /", "GET", "GET  / HTTP/1.1", "GET / HTTP/1.1 extra", " GET / HTTP/1.1",
    "GET / HTTP/1.1 ", "G@T / HTTP/1.1", "GET\t/\tHTTP/1.1",
])
def test_bad_request_line_is_400(line):
    assert status_of(head("Host: a", request_line=line)) == 400


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3"])
def test_unsupported_version_is_505(version):
    assert status_of(head("Host: a", request_line=f"GET / {version}")) == 505


@pytest.mark.parametrize("version", ["FOO/1.1", "http/1.1", "HTTP1.1"])
def test_not_http_version_is_400(version):
    assert status_of(head("Host: a", request_line=f"GET / {version}")) == 400


def test_request_line_limit_is_414():
    cfg = Config(limit_request_line=64)
    ok = "GET /" + "a" * (64 - len("GET / HTTP/1.1")) + " HTTP/1.1"
    assert len(ok) == 64
    parse(head("Host: a", request_line=ok), cfg)
    too_long = "GET /" + "a" * 60 + " HTTP/1.1"
    assert status_of(head("Host: a", request_line=too_long), cfg) == 414


def test_too_many_header_fields_is_431():
    cfg = Config(limit_request_fields=3)
    parse(head("Host: a", "A: 1", "B: 2"), cfg)
    assert status_of(head("Host: a", "A: 1", "B: 2", "C: 3"), cfg) == 431


def test_header_field_too_long_is_431():
    cfg = Config(limit_request_field_size=64)
    parse(head("Host: a", "X: " + "v" * 61), cfg)
    assert status_of(head("Host: a", "X: " + "v" * 62), cfg) == 431


@pytest.mark.parametrize("line", [
    "NoColonHere", ": no name", "Bad Name: x", "Host : a.example", "Bad\tName: x",
    " folded: continuation", "\tfolded", "X-Nul: a\0b",
])
def test_bad_header_line_is_400(line):
    assert status_of(head("Host: a", line)) == 400


def test_two_host_headers_is_400():
    assert status_of(head("Host: a", "Host: b")) == 400


def test_http11_without_host_is_400():
    # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
    # HTTP/1.1 request message that lacks a Host header field"
    assert status_of(head("Accept: */*")) == 400


def test_content_length_and_transfer_encoding_is_400():
    assert status_of(head("Host: a", "Content-Length: 5", "Transfer-Encoding: chunked",
                          request_line="POST / HTTP/1.1")) == 400
    assert status_of(head("Host: a", "Transfer-Encoding: chunked", "Content-Length: 5",
                          request_line="POST / HTTP/1.1")) == 400


def test_differing_duplicate_content_length_is_400():
    assert status_of(head("Host: a", "Content-Length: 5", "Content-Length: 6",
                          request_line="POST / HTTP/1.1")) == 400


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "5 5", "0x10", "", "1.0", "5,6",
                                   "\u00b2", "1\u00b3"])
def test_bad_content_length_is_400(value):
    assert status_of(head("Host: a", f"Content-Length: {value}",
                          request_line="POST / HTTP/1.1")) == 400


@pytest.mark.parametrize("te", ["gzip", "gzip, chunked", "chunked, gzip", "identity",
                                "chunked, chunked"])
def test_unsupported_transfer_encoding(te):
    assert status_of(head("Host: a", f"Transfer-Encoding: {te}",
                          request_line="POST / HTTP/1.1")) in (400, 501)


def test_transfer_encoding_on_http10_is_refused():
    # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing
    assert status_of(head("Transfer-Encoding: chunked", request_line="POST / HTTP/1.0")) in (400, 501)


def test_errors_are_remote_protocol_errors_with_a_message():
    with pytest.raises(RemoteProtocolError) as info:
        parse(head("Host: a", request_line="GET / HTTP/9.9"))
    assert str(info.value)


# --- h2c upgrade --------------------------------------------------------------------------------

SETTINGS = "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA"


@pytest.mark.parametrize("lines,expected", [
    (["Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings", SETTINGS], True),
    (["Upgrade: foo, h2c", "Connection: upgrade, http2-settings", SETTINGS], True),
    (["Upgrade: H2C", "Connection: Upgrade, HTTP2-Settings", SETTINGS], True),
    (["Upgrade: h2c", "Connection: Upgrade", SETTINGS], False),  # HTTP2-Settings not listed
    (["Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings"], False),  # header missing
    (["Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings", SETTINGS, SETTINGS], False),
    (["Upgrade: websocket", "Connection: Upgrade, HTTP2-Settings", SETTINGS], False),
    (["Upgrade: h2", "Connection: Upgrade, HTTP2-Settings", SETTINGS], False),  # h2 is TLS only
    (["Connection: Upgrade, HTTP2-Settings", SETTINGS], False),
])
def test_wants_h2c(lines, expected):
    req = parse(head("Host: a", *lines))
    assert wants_h2c(req) is expected
