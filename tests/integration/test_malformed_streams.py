"""RFC 9113 §8.1.1 on a live server: a malformed request costs only its own stream.

A valid slow request runs on stream 1; stream 3 on the same connection is malformed in one way
each case. Stream 3 must get RST_STREAM(PROTOCOL_ERROR), no GOAWAY may be sent, and stream 1
must complete with its full response (then stream 5 proves the connection still takes requests),
over h2c and TLS.
"""
import pytest
from conformance.rawh2 import GOAWAY, RawH2
from h2.errors import ErrorCodes

pytestmark = pytest.mark.timeout(30)

BAD = {
    "no-authority-no-host": lambda c: [(":method", "GET"), (":scheme", c.scheme), (":path", "/hello")],
    "uppercase-name": lambda c: c.request_headers(extra=[("X-Upper", "1")]),
    "connection-header": lambda c: c.request_headers(extra=[("connection", "close")]),
    "te-gzip": lambda c: c.request_headers(extra=[("te", "gzip")]),
    "duplicate-path": lambda c: c.request_headers() + [(":path", "/hello")],
    "pseudo-after-regular": lambda c: c.request_headers()[:2] + [("x-a", "1")]
    + c.request_headers()[2:],
    "cr-in-value": lambda c: c.request_headers(extra=[("x-a", "a\rb")]),
}


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_stream_reset_neighbour_completes(server_alive, tls, case):
    port = server_alive.tls_port if tls else server_alive.plain_port
    with RawH2(port, tls=tls, timeout=10) as c:
        c.send(c.headers_frame(1, c.request_headers("/sleep?s=0.5")))
        c.send(c.headers_frame(3, BAD[case](c)))
        reset = c.expect_stream_error(3, ErrorCodes.PROTOCOL_ERROR)
        assert reset.type != GOAWAY, "malformed request ended the connection"
        slow = c.response(1)
        assert slow.status == 200 and slow.ended and slow.reset is None, slow
        c.get(5)
        assert c.response(5).status == 200
        assert not c.frames_of(GOAWAY)
        assert c.responses.get(3) is None or c.responses[3].status is None  # no answer on 3
