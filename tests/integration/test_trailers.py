"""Trailers on a live server, both ways, both protocols (tests/trailers_app.py).

HTTP/2: the response trailers are a final HEADERS frame with END_STREAM after DATA frames that
do not end the stream (RFC 9113 §8.1), seen by a raw h2 client and by nghttp, on TLS and h2c.
HTTP/1.1: a chunked trailer section (RFC 9112 §7.1.2) only for a client that sent TE: trailers.
Request trailers reach the app once it has read the body; malformed ones are a stream error.
"""
import hashlib
import json
import re

import pytest
from h2.errors import ErrorCodes
from support import http1, tools
from support.h2raw import H2Client
from support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)
APP = "trailers_app:app"
GRPC_TRAILERS = [("grpc-status", "0"), ("grpc-message", "all good")]
END_STREAM = 0x1


@pytest.fixture(scope="module")
def servers(certs):
    tls = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile,
                         "--log-level", "debug", APP])
    plain = ServerProcess(["--log-level", "debug", APP])
    with tls, plain:
        yield {"tls": tls, "h2c": plain}


@pytest.fixture(params=["tls", "h2c"])
def h2(request, servers):
    srv = servers[request.param]
    start = len(srv.stderr_lines())
    client = H2Client("127.0.0.1", srv.port, tls=request.param == "tls")
    client.server = srv
    yield client
    client.close()
    assert srv.alive(), srv.stderr_text()[-3000:]
    assert "Traceback" not in "\n".join(srv.stderr_lines()[start:])


def stream_frames(client, sid):
    return [(name, flags) for name, flags, s, _ in client.frames if s == sid]


def assert_trailers_frame_last(client, sid):
    """HEADERS, DATA... without END_STREAM, then HEADERS with END_STREAM (RFC 9113 §8.1)."""
    frames = stream_frames(client, sid)
    assert frames[0][0] == "HEADERS" and not frames[0][1] & END_STREAM, frames
    assert [f for f in frames[1:-1] if f[0] != "DATA" or f[1] & END_STREAM] == [], frames
    assert len(frames) >= 3 and frames[-1][0] == "HEADERS" and frames[-1][1] & END_STREAM, frames


def test_h2_grpc_style_trailers_after_a_streamed_body(h2):
    sid = h2.get("/grpc?n=5")
    st = h2.wait_stream(sid)
    assert st.status == 200 and st.reset is None
    assert bytes(st.data) == b"".join(b"message %d\n" % i for i in range(5))
    assert st.trailers == GRPC_TRAILERS
    assert_trailers_frame_last(h2, sid)


def test_h2_trailers_set_before_a_single_chunk_body(h2):
    sid = h2.get("/fast")
    st = h2.wait_stream(sid)
    assert bytes(st.data) == b"fast path body\n"
    assert st.trailers == [("x-checksum", hashlib.sha256(b"fast path body\n").hexdigest())]
    assert_trailers_frame_last(h2, sid)


@pytest.mark.parametrize("kind", ["h2c", "tls"])
def test_nghttp_shows_the_trailers_after_the_data(servers, kind):
    tools.require("nghttp")
    srv = servers[kind]
    out = tools.nghttp(["-v", srv.url_for("/grpc?n=2")]).stdout
    data_at = out.rfind("recv DATA frame")
    status_at = out.find("grpc-status: 0")
    assert 0 < data_at < status_at, out[-2000:]
    tail = out[status_at:]
    assert "grpc-message: all good" in tail
    assert re.search(r"recv HEADERS frame <length=\d+, flags=0x05", tail), tail
    assert "END_STREAM | END_HEADERS" in tail


def curl_raw(srv, path, *args):
    res = tools.run(["curl", "-sS", "-k", "--max-time", "10", "--http1.1", "--raw", "-i"]
                    + list(args) + [srv.url_for(path)])
    res.check()
    return res.stdout


@pytest.mark.parametrize("kind", ["h2c", "tls"])
def test_curl_http11_with_te_trailers_sees_the_chunked_trailer_section(servers, kind):
    out = curl_raw(servers[kind], "/grpc?n=2", "-H", "TE: trailers")
    head, _, body = out.partition("\r\n\r\n")
    assert "transfer-encoding: chunked" in head.lower()
    assert body == ("a\r\nmessage 0\n\r\na\r\nmessage 1\n\r\n"
                    "0\r\ngrpc-status: 0\r\ngrpc-message: all good\r\n\r\n")


def test_http11_client_without_te_trailers_gets_no_trailer_section(servers):
    srv = servers["h2c"]
    start = len(srv.stderr_lines())
    resp = http1.simple(srv.port, "GET", "/grpc?n=2")
    assert resp.status == 200 and resp.body == b"message 0\nmessage 1\n"
    assert resp.trailers == []
    assert curl_raw(srv, "/grpc?n=1").endswith("\r\n\r\na\r\nmessage 0\n\r\n0\r\n\r\n")
    assert srv.wait_for_stderr("dropping response trailers .*did not send 'TE: trailers'", start=start)


def test_http11_content_length_response_drops_trailers_and_keeps_the_connection(servers):
    srv = servers["h2c"]
    sock = http1.connect(srv.port)
    reader = http1.Reader(sock)
    sock.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
    r1 = http1.read_response(reader)
    assert r1.status == 200 and r1.body == b"fast path body\n" and r1.trailers is None
    sock.sendall(b"GET /grpc?n=1 HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n")
    r2 = http1.read_response(reader)
    sock.close()
    assert r2.body == b"message 0\n" and r2.trailers == GRPC_TRAILERS


# --- wsgi.ext.http.send_trailers (connect-python, pyvoy) -------------------------------------

def test_h2_ext_key_trailers_between_chunks_then_empty_chunks(h2):
    sid = h2.get("/ext?n=2")
    st = h2.wait_stream(sid)
    assert st.header("x-ext") == "1" and bytes(st.data) == b"message 0\nmessage 1\n"
    assert st.trailers == GRPC_TRAILERS
    assert_trailers_frame_last(h2, sid)


def test_h2_ext_key_trailers_only_is_headers_then_headers_with_end_stream(h2):
    sid = h2.get("/ext?n=0")
    st = h2.wait_stream(sid)
    assert st.status == 200 and st.trailers == GRPC_TRAILERS and bytes(st.data) == b""
    frames = stream_frames(h2, sid)
    assert [name for name, _ in frames] == ["HEADERS", "HEADERS"], frames
    assert not frames[0][1] & END_STREAM and frames[1][1] & END_STREAM, frames


def test_http11_ext_key_offered_only_with_te_trailers(servers):
    srv = servers["h2c"]
    out = curl_raw(srv, "/ext?n=1", "-H", "TE: trailers")
    head, _, body = out.partition("\r\n\r\n")
    assert "x-ext: 1" in head.lower()
    assert body == "a\r\nmessage 0\n\r\n0\r\ngrpc-status: 0\r\ngrpc-message: all good\r\n\r\n"
    resp = http1.simple(srv.port, "GET", "/ext?n=1")
    assert resp.header("x-ext") == "0" and resp.body == b"message 0\n"


# --- request trailers ---------------------------------------------------------------------------

def post_with_trailers(client, trailers, body=b"hello"):
    sid = client.send_headers(client.request_headers("POST", "/request-trailers"), end_stream=False)
    client.send_data(sid, body)
    client.conn.send_headers(sid, trailers, end_stream=True)
    client.flush()
    return sid


def test_h2_request_trailers_reach_the_app_after_the_body(h2):
    sid = post_with_trailers(h2, [("x-checksum", "abc"), ("content-type", "dropped/forbidden")])
    st = h2.wait_stream(sid)
    assert st.status == 200, st
    got = json.loads(bytes(st.data))
    assert got["before"] is None and got["bytes"] == 5
    assert got["after"] == [["x-checksum", "abc"]]


def test_h2_request_without_trailers_gives_an_empty_list(h2):
    sid = h2.request("POST", "/request-trailers", body=b"abc")
    got = json.loads(bytes(h2.wait_stream(sid).data))
    assert got["before"] is None and got["after"] == []


def test_http11_chunked_request_trailers_reach_the_app(servers):
    raw = (b"POST /request-trailers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: 42\r\n"
           b"Host: forbidden-in-trailers\r\nX-Other: two\r\n\r\n")
    resp, _, sock = http1.request(servers["h2c"].port, raw)
    sock.close()
    got = json.loads(resp.body)
    assert got["before"] is None and got["bytes"] == 5
    assert got["after"] == [["x-checksum", "42"], ["x-other", "two"]]


def test_h2_pseudo_header_in_request_trailers_is_a_stream_error(h2):
    slow = h2.get("/grpc?n=20")  # in flight on the same connection meanwhile
    h2.conn.config.validate_outbound_headers = False  # the client must send what h2 refuses
    sid = post_with_trailers(h2, [(":method", "POST")])
    h2.read_events(until=lambda c: c.streams[sid].done)
    assert h2.streams[sid].reset == ErrorCodes.PROTOCOL_ERROR
    assert h2.goaway is None
    h2.conn.config.validate_outbound_headers = True
    after = h2.wait_stream(h2.get("/fast"))
    assert after.status == 200 and after.trailers
    st = h2.wait_stream(slow)
    assert st.trailers == GRPC_TRAILERS and h2.goaway is None


def test_http11_too_many_trailer_fields_is_431(certs):
    with ServerProcess(["--limit-request-fields", "10", APP]) as srv:
        fields = b"".join(b"X-T%d: v\r\n" % i for i in range(11))
        raw = (b"POST /request-trailers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"1\r\na\r\n0\r\n" + fields + b"\r\n")
        resp, reader, sock = http1.request(srv.port, raw)
        assert (resp.status, resp.reason) == (431, "Request Header Fields Too Large")
        assert reader.at_eof(3)
        sock.close()
        ok = fields.replace(b"X-T10: v\r\n", b"")
        resp, _, sock = http1.request(srv.port, raw.replace(fields, ok))
        sock.close()
        assert resp.status == 200 and len(json.loads(resp.body)["after"]) == 10


def test_h2_request_trailers_count_against_max_header_list_size():
    with ServerProcess(["--max-header-list-size", "2048", APP]) as srv:
        client = H2Client("127.0.0.1", srv.port)
        sid = post_with_trailers(client, [("x-big", "v" * 3000)])
        client.read_events(until=lambda c: c.streams[sid].done or c.goaway or c.closed,
                           raise_on_timeout=False)
        st = client.streams[sid]
        assert st.status is None and not st.data  # the app never answered with those trailers
        code = client.goaway.error_code if client.goaway else st.reset
        assert code == ErrorCodes.ENHANCE_YOUR_CALM, (client.goaway, st)
        client.close()
        fresh = H2Client("127.0.0.1", srv.port)
        ok = fresh.wait_stream(post_with_trailers(fresh, [("x-small", "v" * 100)]))
        assert json.loads(bytes(ok.data))["after"] == [["x-small", "v" * 100]]
        fresh.close()


# --- refused response trailers ------------------------------------------------------------------

@pytest.mark.parametrize("name", [":status", "connection", "te", "content-length", "transfer-encoding"])
def test_forbidden_response_trailer_gives_the_app_a_valueerror_and_the_response_ends(h2, name):
    start = len(h2.server.stderr_lines())
    sid = h2.get("/refused?name=" + name)
    st = h2.wait_stream(sid)
    assert st.status == 200 and st.reset is None and st.ended
    assert b"ValueError" in st.data and repr(name).encode() in st.data
    assert st.trailers == [("x-good", "1")]  # the earlier, valid trailers still go out
    assert_trailers_frame_last(h2, sid)
    assert h2.server.wait_for_stderr("send_trailers refused: trailer field %s" % re.escape(repr(name)),
                                     start=start)


def test_forbidden_response_trailer_over_http11(servers):
    resp = http1.simple(servers["h2c"].port, "GET", "/refused?name=keep-alive",
                        headers=[("TE", "trailers")])
    assert resp.status == 200 and b"ValueError" in resp.body and b"'keep-alive'" in resp.body
    assert resp.trailers == [("x-good", "1")]



def test_threads_mode_carries_trailers_both_ways():
    """--threads: the sink's trailers step crosses from the worker thread to the hub."""
    with ServerProcess(["--threads", "2", APP]) as srv:
        client = H2Client("127.0.0.1", srv.port)
        st = client.wait_stream(client.get("/grpc?n=2"))
        assert st.trailers == GRPC_TRAILERS
        assert_trailers_frame_last(client, st.stream_id)
        got = json.loads(bytes(client.wait_stream(post_with_trailers(client, [("x-t", "1")])).data))
        assert got["after"] == [["x-t", "1"]]
        client.close()
