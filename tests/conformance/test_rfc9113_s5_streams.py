"""RFC 9113 §5: stream states, identifiers, concurrency, priority signalling, error handling,
extensions."""
from __future__ import annotations

from h2.errors import ErrorCodes

from conformance.rawh2 import RawH2, data_frame, frame, priority_frame, rst_stream, window_update

SLOW = "/sleep?s=1.5"


class TestS5_1StreamStates:
    # -- idle ----------------------------------------------------------------------------------
    def test_idle_data(self, conn):
        """§5.1 idle: any frame other than HEADERS or PRIORITY is a connection PROTOCOL_ERROR."""
        conn.send(data_frame(1, b"x", end_stream=True))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_idle_rst_stream(self, conn):
        conn.send(rst_stream(1))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_idle_window_update(self, conn):
        conn.send(window_update(1, 100))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_idle_continuation(self, conn):
        conn.send(conn.continuation(1, conn.encode(conn.request_headers())))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_priority_on_idle_stream_does_not_open_it(self, conn):
        """§5.1 idle: PRIORITY is allowed and does not use up the stream identifier."""
        conn.send(priority_frame(9, 0, 200))
        conn.get(1)
        conn.get(3)
        assert conn.response(1).status == 200
        assert conn.response(3).status == 200

    # -- half-closed (remote) ------------------------------------------------------------------
    def test_half_closed_remote_data(self, conn):
        """§5.1 half-closed (remote): frames other than WINDOW_UPDATE, PRIORITY, RST_STREAM are a
        stream error STREAM_CLOSED."""
        conn.get(1, SLOW)
        conn.send(data_frame(1, b"late", end_stream=True))
        conn.expect_stream_error(1, ErrorCodes.STREAM_CLOSED)
        conn.expect_alive()

    def test_half_closed_remote_headers(self, conn):
        conn.get(1, SLOW)
        conn.send(conn.headers_frame(1, [("x-trailer", "1")]))
        conn.expect_stream_error(1, ErrorCodes.STREAM_CLOSED)

    def test_half_closed_remote_continuation(self, conn):
        """CONTINUATION with no open header block: STREAM_CLOSED, or PROTOCOL_ERROR (§6.10)."""
        conn.get(1, SLOW)
        conn.send(conn.continuation(1, conn.encode([("x-a", "b")])))
        f = conn.read_until(lambda fr: fr.type in (3, 7))
        assert f is not None, conn.received
        assert f.error_code in (ErrorCodes.STREAM_CLOSED, ErrorCodes.PROTOCOL_ERROR), f

    def test_half_closed_remote_allows_window_update_and_priority(self, conn):
        conn.get(1, "/sleep?s=0.2")
        conn.send(window_update(1, 1000), priority_frame(1, 0, 3))
        assert conn.response(1).status == 200

    # -- closed --------------------------------------------------------------------------------
    def test_closed_by_client_reset_then_data(self, conn):
        """§5.1 closed: a frame after the peer's RST_STREAM is a stream error STREAM_CLOSED."""
        conn.send(conn.headers_frame(1, conn.request_headers(SLOW), end_stream=False))
        conn.send(rst_stream(1))
        conn.send(data_frame(1, b"after reset"))
        conn.expect_stream_error(1, ErrorCodes.STREAM_CLOSED)

    def test_closed_by_client_reset_then_headers(self, conn):
        conn.send(conn.headers_frame(1, conn.request_headers(SLOW), end_stream=False))
        conn.send(rst_stream(1))
        conn.send(conn.headers_frame(1, conn.request_headers()))
        conn.expect_stream_error(1, ErrorCodes.STREAM_CLOSED)

    def test_closed_then_data(self, conn):
        """§5.1 closed (both END_STREAMs): DATA is a STREAM_CLOSED error."""
        conn.get(1)
        assert conn.response(1).ended
        conn.send(data_frame(1, b"x", end_stream=True))
        conn.expect_stream_error(1, ErrorCodes.STREAM_CLOSED)

    def test_closed_then_headers(self, conn):
        conn.get(1)
        assert conn.response(1).ended
        conn.send(conn.headers_frame(1, conn.request_headers()))
        conn.expect_stream_error(1, ErrorCodes.STREAM_CLOSED)

    def test_closed_then_continuation(self, conn):
        conn.get(1)
        assert conn.response(1).ended
        conn.send(conn.continuation(1, conn.encode([("x-a", "b")])))
        f = conn.read_until(lambda fr: fr.type in (3, 7))
        assert f is not None and f.error_code in (ErrorCodes.STREAM_CLOSED,
                                                  ErrorCodes.PROTOCOL_ERROR), f

    def test_closed_priority_is_allowed(self, conn):
        """§5.1 closed: PRIORITY frames on a closed stream are allowed."""
        conn.get(1)
        assert conn.response(1).ended
        conn.send(priority_frame(1, 0, 10))
        conn.expect_alive()
        assert not conn.frames_of(3)


class TestS5_1_1StreamIdentifiers:
    def test_even_stream_id(self, conn):
        """§5.1.1: client streams are odd; an even id is a connection PROTOCOL_ERROR."""
        conn.get(2)
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_lower_than_previous(self, conn):
        """§5.1.1: a new stream id must be greater than all the client opened before."""
        conn.get(5)
        assert conn.response(5).status == 200
        conn.get(3)
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_lower_than_previous_while_open(self, conn):
        conn.get(7, SLOW)
        conn.get(3)
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)

    def test_lower_than_previous_is_logged_for_the_operator(self, start_server):
        """What an HTTP/2 client library that raced two requests (httpcore's threads) sees as
        "connection terminated" is one INFO line on the server, with the reason."""
        srv = start_server([])
        with RawH2(srv.port) as c:
            c.get(11)
            c.get(9)
            c.expect_goaway(ErrorCodes.PROTOCOL_ERROR)
        line = srv.wait_for_stderr(r"\[INFO\] closing HTTP/2 connection from 127\.0\.0\.1: .*9 is "
                                   r"lower than 11.*\(GOAWAY PROTOCOL_ERROR\)", timeout=10)
        assert line, srv.stderr_text()[-2000:]

    def test_skipped_ids_are_closed(self, conn):
        """§5.1.1: opening stream 9 implicitly closes idle streams 1..7."""
        conn.get(9)
        assert conn.response(9).status == 200
        conn.send(data_frame(5, b"x"))
        f = conn.read_until(lambda fr: fr.type in (3, 7))
        assert f is not None and f.error_code in (ErrorCodes.PROTOCOL_ERROR,
                                                  ErrorCodes.STREAM_CLOSED), f

    def test_stream_zero_headers(self, conn):
        """§5.1.1 / §6.2: HEADERS on stream 0 is a connection PROTOCOL_ERROR."""
        conn.get(0)
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)


class TestS5_1_2Concurrency:
    def test_streams_above_limit_are_refused(self, start_server):
        """§5.1.2: streams above SETTINGS_MAX_CONCURRENT_STREAMS: PROTOCOL_ERROR or
        REFUSED_STREAM; the connection stays usable and the refused stream was not processed."""
        srv = start_server(["--max-concurrent-streams", "2"])
        with RawH2(srv.port) as c:
            assert c.server_settings.get(3) == 2
            c.get(1, "/sleep?s=1")
            c.get(3, "/sleep?s=1")
            c.get(5, "/hello")
            f = c.expect_stream_error(5, ErrorCodes.REFUSED_STREAM)
            assert f.type == 3
            assert c.response(1).status == 200 and c.response(3).status == 200
            assert c.responses[5].headers == []
            c.get(7)
            assert c.response(7).status == 200


class TestS5_3Priority:
    def test_headers_depending_on_itself(self, conn):
        """§5.3.1: a stream cannot depend on itself: stream error PROTOCOL_ERROR."""
        conn.send(conn.headers_frame(1, priority=(1, 16)))
        conn.expect_stream_error(1, ErrorCodes.PROTOCOL_ERROR)

    def test_priority_depending_on_itself(self, conn):
        conn.send(priority_frame(1, 1, 16))
        conn.expect_stream_error(1, ErrorCodes.PROTOCOL_ERROR)


class TestS5_4ErrorHandling:
    def test_connection_error_goaway_then_close(self, conn):
        """§5.4.1: after a connection error the server sends GOAWAY and closes TCP."""
        conn.get(1)
        assert conn.response(1).status == 200
        conn.send(frame(6, 0, 3, b"12345678"))  # PING on a stream
        g = conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)
        assert g.last_stream_id == 1

    def test_stream_error_keeps_connection(self, conn):
        """§5.4.2: a stream error leaves the connection and other streams usable."""
        conn.get(1, "/sleep?s=0.3")
        conn.send(data_frame(1, b"late"))  # §5.1 half-closed (remote): stream error
        f = conn.expect_stream_error(1, ErrorCodes.STREAM_CLOSED)
        assert f.type == 3, f
        conn.get(3)
        assert conn.response(3).status == 200


class TestS5_5Extensions:
    def test_unknown_frame_ignored(self, conn):
        conn.send(frame(0x20, 0, 0, b"ext"), frame(0x21, 0, 1, b""))
        conn.get(1)
        assert conn.response(1).status == 200

    def test_unknown_frame_inside_header_block(self, conn):
        """§5.5: an extension frame in the middle of a field block is a PROTOCOL_ERROR."""
        block = conn.encode(conn.request_headers())
        conn.send(conn.headers_frame(1, block=block[:4], end_headers=False),
                  frame(0x20, 0, 1, b"ext"), conn.continuation(1, block[4:]))
        conn.expect_goaway(ErrorCodes.PROTOCOL_ERROR)


class TestS5_1ClosedAfterServerReset:
    def test_frames_after_server_reset_are_ignored_but_credited(self, conn):
        """§5.1 closed: after the server sent RST_STREAM it MUST ignore frames on the stream
        (no RST_STREAM per late frame), while DATA still counts for the connection window
        (§6.9), so the server gives that credit back."""
        conn.send(conn.headers_frame(1, conn.request_headers("/hello", "POST"), end_stream=False))
        resp = conn.response(1)
        assert resp.status == 200
        f = conn.read_until(lambda fr: fr.type == 3 and fr.stream_id == 1)
        assert f is not None and f.error_code == ErrorCodes.NO_ERROR, conn.received  # §8.1
        mark = len(conn.received)
        for _ in range(20):
            conn.send(data_frame(1, b"x" * 1000))
        conn.send(data_frame(1, b"", end_stream=True))
        conn.expect_alive()
        later = conn.received[mark:]
        assert not [g for g in later if g.type == 3], later

    def test_data_on_reset_stream_credits_connection_window(self, start_server):
        """DATA discarded on a closed stream still consumed connection window: the server must
        return it, or an honest client uploading to a handler that answered early stalls."""
        srv = start_server(["--connection-window-size", "65535", "--initial-window-size", "65535"])
        with RawH2(srv.port) as c:
            c.send(c.headers_frame(1, c.request_headers("/hello", "POST"), end_stream=False))
            assert c.response(1).status == 200
            window, sent = 65535, 0
            while sent < 200000:
                if window < 16384:
                    f = c.read_until(lambda fr: fr.type in (7, 8) and fr.stream_id == 0, timeout=3)
                    assert f is not None and f.type == 8, (sent, c.received[-5:])
                    window += int.from_bytes(f.payload, "big")
                    continue
                c.send(data_frame(1, b"u" * 16384))
                window -= 16384
                sent += 16384
            c.get(3)
            assert c.response(3).status == 200


class TestS8_1EarlyResponseToASmallBody:
    """§8.1: a server may answer before the request body has arrived, then RST_STREAM(NO_ERROR)
    to stop it. For a small declared body greenh2 lets the client finish instead (curl 7.88
    drops a response whose reset comes before its body went out); a large or undeclared body is
    still reset at once."""

    def test_small_declared_body_may_finish_after_the_response(self, conn):
        conn.send(conn.headers_frame(1, conn.request_headers("/hello", "POST",
                                                             [("content-length", "1000")]),
                                     end_stream=False))
        assert conn.response(1).status == 200  # /hello answers without reading the body
        reset = conn.read_until(lambda f: f.type == 3 and f.stream_id == 1, timeout=0.3)
        assert reset is None, "reset at once: the client could not finish its small body"
        conn.send(data_frame(1, b"x" * 1000, end_stream=True))  # the orderly end of the stream
        conn.expect_alive()
        later = [f for f in conn.received if f.type == 3 and f.stream_id == 1]
        assert not later, later
        conn.send(conn.headers_frame(3, conn.request_headers()))  # and the connection serves on
        assert conn.response(3).status == 200

    def test_small_body_never_sent_is_reset_after_the_grace(self, conn):
        conn.send(conn.headers_frame(1, conn.request_headers("/hello", "POST",
                                                             [("content-length", "1000")]),
                                     end_stream=False))
        assert conn.response(1).status == 200
        reset = conn.read_until(lambda f: f.type == 3 and f.stream_id == 1, timeout=5)
        assert reset is not None and reset.error_code == ErrorCodes.NO_ERROR, conn.received

    def test_large_declared_body_is_reset_at_once(self, conn):
        conn.send(conn.headers_frame(1, conn.request_headers("/hello", "POST",
                                                             [("content-length", "10000000")]),
                                     end_stream=False))
        assert conn.response(1).status == 200
        reset = conn.read_until(lambda f: f.type == 3 and f.stream_id == 1, timeout=0.5)
        assert reset is not None and reset.error_code == ErrorCodes.NO_ERROR, conn.received
