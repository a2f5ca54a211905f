"""RFC 9113 §7 (error codes) and §8 (HTTP semantics in HTTP/2): malformed requests, pseudo-header
fields, connection-specific fields, trailers, content-length, server push."""
from __future__ import annotations

import pytest
from h2.errors import ErrorCodes

from conformance.rawh2 import DATA, GOAWAY, PUSH_PROMISE, RST_STREAM, RawH2, data_frame, frame, rst_stream

PE = ErrorCodes.PROTOCOL_ERROR


def _base(conn: RawH2, method="GET", path="/hello") -> list[tuple[str, str]]:
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", conn.authority)]


class TestS7ErrorCodes:
    def test_rst_stream_unknown_code(self, conn):
        """§7: unknown or unsupported error codes MUST NOT trigger any special behavior."""
        conn.send(conn.headers_frame(1, conn.request_headers("/sleep?s=0.2"), end_stream=False))
        conn.send(rst_stream(1, 0xBADC0DE))
        conn.get(3)
        assert conn.response(3).status == 200
        assert not conn.frames_of(GOAWAY)


class TestS8_1Messages:
    def test_trailers_accepted(self, conn):
        """§8.1: a request may end with a trailer section (HEADERS with END_STREAM)."""
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/sha256"), end_stream=False),
                  data_frame(1, b"abc"), conn.headers_frame(1, [("x-checksum", "1")]))
        resp = conn.response(1)
        assert resp.status == 200 and b'"bytes": 3' in resp.body

    def test_trailers_without_end_stream(self, conn):
        """§8.1: a HEADERS frame that does not start a message and lacks END_STREAM is malformed."""
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/sha256"), end_stream=False),
                  data_frame(1, b"abc"), conn.headers_frame(1, [("x-checksum", "1")], end_stream=False))
        conn.expect_stream_error(1, PE)

    def test_pseudo_header_in_trailers(self, conn):
        """§8.3: pseudo-header fields MUST NOT appear in a trailer section."""
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/sha256"), end_stream=False),
                  data_frame(1, b"abc"), conn.headers_frame(1, [(":method", "POST")]))
        conn.expect_stream_error(1, PE)

    def test_data_before_headers_on_new_stream(self, conn):
        conn.send(data_frame(1, b"x"))
        conn.expect_goaway(PE)


class TestS8_1_1ContentLength:
    """§8.1.1: content-length that does not equal the sum of DATA payload lengths is malformed,
    whether or not the application reads the body."""

    @pytest.mark.parametrize("path", ["/sha256", "/hello"], ids=["reads-body", "ignores-body"])
    def test_less_data_than_content_length(self, conn, path):
        conn.send(conn.headers_frame(1, _base(conn, "POST", path) + [("content-length", "10")],
                                     end_stream=False),
                  data_frame(1, b"12345", end_stream=True))
        conn.expect_stream_error(1, PE)
        assert not _got_final_status(conn, 1)

    @pytest.mark.parametrize("path", ["/sha256", "/hello"], ids=["reads-body", "ignores-body"])
    def test_more_data_than_content_length(self, conn, path):
        conn.send(conn.headers_frame(1, _base(conn, "POST", path) + [("content-length", "4")],
                                     end_stream=False),
                  data_frame(1, b"123"), data_frame(1, b"456", end_stream=True))
        conn.expect_stream_error(1, PE)
        assert not _got_final_status(conn, 1)

    def test_more_data_than_content_length_costs_only_its_stream(self, conn):
        """§8.1.1 makes it a stream error: h2 would end the connection; greenh2 resets the one
        stream, credits the connection window and serves the next request."""
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/sha256") + [("content-length", "4")],
                                     end_stream=False),
                  data_frame(1, b"0123456789", end_stream=True))
        f = conn.read_until(lambda fr: fr.type in (RST_STREAM, GOAWAY))
        assert f is not None and f.type == RST_STREAM and f.error_code == PE, conn.received
        conn.expect_alive()
        conn.send(conn.headers_frame(3, _base(conn, "GET", "/hello")))
        assert conn.response(3).status == 200

    def test_content_length_without_data(self, conn):
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/hello") + [("content-length", "3")]))
        conn.expect_stream_error(1, PE)

    def test_content_length_not_a_number(self, conn):
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/hello") + [("content-length", "abc")],
                                     end_stream=False), data_frame(1, b"abc", end_stream=True))
        conn.expect_stream_error(1, PE)

    def test_matching_content_length(self, conn):
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/sha256") + [("content-length", "6")],
                                     end_stream=False),
                  data_frame(1, b"123"), data_frame(1, b"456", end_stream=True))
        resp = conn.response(1)
        assert resp.status == 200 and b'"bytes": 6' in resp.body

    def test_excess_data_after_early_response(self, conn):
        """A handler that answered before the request ended must not hide a protocol error in
        DATA that arrives later: the excess is still a stream (or connection) error, and
        the server's answer to it is not silently dropped."""
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/hello") + [("content-length", "4")],
                                     end_stream=False))
        resp = conn.response(1)  # /hello answers without reading the body
        assert resp.status == 200
        conn.send(data_frame(1, b"0123456789", end_stream=True))
        conn.expect_alive()
        # The stream is closed; RFC 9113 §5.1 lets the server ignore the frame if it reset the
        # stream itself, otherwise it is a STREAM_CLOSED or PROTOCOL_ERROR error.
        resets = [f for f in conn.frames_of(RST_STREAM) if f.stream_id == 1]
        assert all(f.error_code in (ErrorCodes.NO_ERROR, ErrorCodes.STREAM_CLOSED, PE)
                   for f in resets), resets
        assert resets, "the server must close the request side (RST_STREAM) or report the error"

    def test_hpack_error_after_early_response_still_detected(self, conn):
        """§4.3: a field block on a stream the server already answered and reset is still
        decoded: a broken one is a connection COMPRESSION_ERROR."""
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/hello"), end_stream=False))
        assert conn.response(1).status == 200
        conn.send(conn.headers_frame(1, block=b"\xff\xff\xff\xff\xff\x0f"))  # index out of range
        conn.expect_goaway(ErrorCodes.COMPRESSION_ERROR)

    def test_bad_padding_after_early_response_still_detected(self, conn):
        conn.send(conn.headers_frame(1, _base(conn, "POST", "/hello"), end_stream=False))
        assert conn.response(1).status == 200
        conn.send(frame(DATA, 0x8, 1, b"\x09abc"))
        conn.expect_goaway(PE)

    def test_flow_control_after_early_response_still_enforced(self, start_server):
        """The connection window covers DATA on streams the handler is done with (§6.9)."""
        srv = start_server(["--connection-window-size", "65535", "--initial-window-size", "65535"])
        with RawH2(srv.port) as c:
            c.send(c.headers_frame(1, _base(c, "POST", "/sleep?s=2"), end_stream=False))
            c.send(c.headers_frame(3, _base(c, "POST", "/hello"), end_stream=False))
            assert c.response(3).status == 200
            for _ in range(4):
                c.send(data_frame(1, b"a" * 16383))
            c.send(data_frame(1, b"a" * 3))  # stream 1 (and the connection) exactly full
            c.send(data_frame(3, b"b" * 10))  # on the finished stream: beyond the connection window
            f = c.read_until(lambda fr: fr.type == GOAWAY or (fr.type == RST_STREAM and fr.stream_id == 1))
            assert f is not None and f.error_code == ErrorCodes.FLOW_CONTROL_ERROR, c.received


def _got_final_status(conn: RawH2, sid: int) -> bool:
    r = conn.responses.get(sid)
    return bool(r and r.status and r.status >= 200 and r.status < 400)


class TestS8_2Fields:
    @pytest.mark.parametrize("name,value", [
        ("X-Upper", "1"),                 # §8.2: uppercase field name
        ("x-sp ace", "1"),                # §8.2.1: not a token
        ("x-colon:", "1"),
        ("", "empty-name"),
        ("x-nul", "a\x00b"),              # §8.2.1: NUL, CR, LF in a value
        ("x-cr", "a\rb"),
        ("x-lf", "a\nb"),
        ("x-lead", " leading"),           # §8.2.1: leading / trailing whitespace
        ("x-trail", "trailing\t"),
    ], ids=["uppercase", "space-in-name", "colon-in-name", "empty-name", "nul", "cr", "lf",
            "leading-ws", "trailing-ws"])
    def test_invalid_field(self, conn, name, value):
        conn.send(conn.headers_frame(1, _base(conn) + [(name, value)]))
        conn.expect_stream_error(1, PE)

    @pytest.mark.parametrize("name,value", [
        ("connection", "keep-alive"), ("keep-alive", "timeout=5"), ("proxy-connection", "x"),
        ("transfer-encoding", "chunked"), ("upgrade", "h2c"), ("te", "gzip"),
        ("te", "trailers, gzip")])
    def test_connection_specific_fields(self, conn, name, value):
        """§8.2.2: connection-specific fields make a request malformed; TE only as "trailers"."""
        conn.send(conn.headers_frame(1, _base(conn) + [(name, value)]))
        conn.expect_stream_error(1, PE)

    def test_te_trailers_allowed(self, conn):
        conn.send(conn.headers_frame(1, _base(conn) + [("te", "trailers")]))
        assert conn.response(1).status == 200

    def test_cookie_crumbs_allowed(self, conn):
        """§8.2.3: cookie may be split into several fields."""
        conn.send(conn.headers_frame(1, _base(conn, path="/environ") + [("cookie", "a=1"),
                                                                        ("cookie", "b=2")]))
        resp = conn.response(1)
        assert resp.status == 200 and b'"HTTP_COOKIE": "a=1; b=2"' in resp.body


class TestS8_3PseudoHeaders:
    @pytest.mark.parametrize("headers", [
        [(":method", "GET"), (":scheme", "http"), (":path", "/hello"), (":authority", "a"),
         (":foo", "bar")],                                                     # unknown
        [(":method", "GET"), (":scheme", "http"), (":path", "/hello"), (":authority", "a"),
         (":status", "200")],                                                  # response-only
        [(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":path", "/hello")],  # after field
        [(":method", "GET"), (":scheme", "http"), (":path", "")],            # empty :path
        [(":scheme", "http"), (":path", "/hello"), (":authority", "a")],     # no :method
        [(":method", "GET"), (":path", "/hello"), (":authority", "a")],      # no :scheme
        [(":method", "GET"), (":scheme", "http"), (":authority", "a")],      # no :path
        [(":method", "GET"), (":method", "GET"), (":scheme", "http"), (":path", "/")],
        [(":method", "GET"), (":scheme", "http"), (":scheme", "http"), (":path", "/")],
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":path", "/")],
        [(":method", "CONNECT"), (":scheme", "http"), (":path", "/"), (":authority", "a:1")],
        [(":method", "CONNECT"), (":authority", "a:1"), (":protocol", "websocket")],
    ], ids=["unknown", "status", "after-regular", "empty-path", "no-method", "no-scheme",
            "no-path", "dup-method", "dup-scheme", "dup-path", "connect-with-path",
            "protocol-without-enable-connect"])
    def test_malformed(self, conn, headers):
        conn.send(conn.headers_frame(1, headers))
        conn.expect_stream_error(1, PE)
        assert not _got_final_status(conn, 1)

    def test_options_asterisk(self, conn):
        conn.send(conn.headers_frame(1, [(":method", "OPTIONS"), (":scheme", "http"), (":path", "*"),
                                         (":authority", conn.authority)]))
        resp = conn.response(1)
        assert resp.status is not None and resp.reset is None

    def test_malformed_request_gets_no_response_and_connection_survives(self, conn):
        conn.send(conn.headers_frame(1, [(":method", "GET"), (":path", "/hello")]))
        f = conn.expect_stream_error(1, PE)
        if f.type == RST_STREAM:
            conn.get(3)
            assert conn.response(3).status == 200


class TestS8_4ServerPush:
    def test_client_push_promise(self, conn):
        """§8.4: a client cannot push; PUSH_PROMISE from it is a connection PROTOCOL_ERROR."""
        conn.get(1, "/sleep?s=0.3")
        block = conn.encode(_base(conn))
        conn.send(frame(PUSH_PROMISE, 0x4, 1, b"\0\0\0\x02" + block))
        conn.expect_goaway(PE)

    def test_server_does_not_push_when_disabled(self, connect):
        c = connect(settings={2: 0})
        c.get(1)
        assert c.response(1).status == 200
        assert not c.frames_of(PUSH_PROMISE)
