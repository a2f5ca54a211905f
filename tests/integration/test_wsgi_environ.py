"""What the WSGI application sees (environ) and the response rules, h2 and h1."""
import json

import pytest
from support import http1
from support.h2raw import H2Client, StreamResult

pytestmark = pytest.mark.timeout(30)

HOP = ("connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection")


def h2_environ(port, tls=False, path="/environ/a%20b?x=1&y=%20z", extra=()):
    with H2Client("127.0.0.1", port, tls=tls) as c:
        r = c.wait_stream(c.request("GET", path, headers=list(extra)))
        assert r.status == 200, r
        return json.loads(bytes(r.data)), c.authority


def test_environ_h2_cleartext(server_alive):
    extra = [("cookie", "a=1"), ("cookie", "b=2"), ("x-rep", "one"), ("x-rep", "two"),
             ("x_under", "dropped"), ("x-plain", "kept"), ("user-agent", "raw-h2")]
    env, authority = h2_environ(server_alive.plain_port, extra=extra)
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0"
    assert env["greenh2.protocol"] == "h2"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/environ/a b"
    assert env["QUERY_STRING"] == "x=1&y=%20z"
    assert env["HTTP_HOST"] == authority
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_REP"] == "one, two"
    assert env["HTTP_X_PLAIN"] == "kept"
    assert env["HTTP_USER_AGENT"] == "raw-h2"
    assert "HTTP_X_UNDER" not in env, "header with '_' must be dropped (spoofing)"
    assert not any(k.startswith("HTTP_:") or k.startswith(":") for k in env), env
    assert env["wsgi.url_scheme"] == "http"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.version"] == [1, 0]
    assert env["SERVER_PORT"] == str(server_alive.plain_port)
    assert env["SCRIPT_NAME"] == ""
    assert env["_has_early_hints"] is True
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")


def test_environ_h2_tls(server_alive):
    env, _ = h2_environ(server_alive.tls_port, tls=True)
    assert env["wsgi.url_scheme"] == "https"
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0"
    assert env["REMOTE_ADDR"] == "127.0.0.1"


def test_content_length_synthesized_h2(server_alive):
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, c.request_headers("POST", "/environ",
                                                   [("content-type", "text/plain")]))
        c.conn.send_data(sid, b"hello", end_stream=True)
        c.streams[sid] = StreamResult(sid)
        c.flush()  # HEADERS + DATA(END_STREAM) in one write
        r = c.wait_stream(sid)
        assert r.status == 200, r
        env = json.loads(bytes(r.data))
    assert env["CONTENT_LENGTH"] == "5"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["_body_len"] == 5
    assert env["REQUEST_METHOD"] == "POST"


def test_streamed_body_without_length_h2(server_alive):
    """Body arriving after dispatch: no CONTENT_LENGTH promise, but input reads to the end."""
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        sid = c.request("POST", "/environ", end_stream=False)
        c.read_events(timeout=0.3, raise_on_timeout=False)
        c.send_data(sid, b"abc")
        c.read_events(timeout=0.1, raise_on_timeout=False)
        c.send_data(sid, b"defg", end_stream=True)
        r = c.wait_stream(sid)
        env = json.loads(bytes(r.data))
    assert env["_body_len"] == 7
    assert env.get("CONTENT_LENGTH", "") in ("", "7")


def test_environ_h1_cleartext(server_alive):
    port = server_alive.plain_port
    resp = http1.simple(port, "GET", "/environ/a%20b?x=1",
                        headers=[("Cookie", "a=1; b=2"), ("X-Rep", "one"), ("X-Rep", "two"),
                                 ("X_Under", "dropped"), ("X-Plain", "kept")])
    assert resp.status == 200, resp
    assert resp.version == "HTTP/1.1"
    env = json.loads(resp.body)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["greenh2.protocol"] == "http/1.1"
    assert env["PATH_INFO"] == "/environ/a b"
    assert env["QUERY_STRING"] == "x=1"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % port
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_REP"] == "one, two"
    assert env["HTTP_X_PLAIN"] == "kept"
    assert "HTTP_X_UNDER" not in env
    assert env["wsgi.url_scheme"] == "http"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.input_terminated"] is True
    assert resp.header("date") and resp.header("server"), resp.headers


def test_environ_h1_tls(server_alive):
    resp = http1.simple(server_alive.tls_port, "POST", "/environ", body=b"12345678", tls=True)
    env = json.loads(resp.body)
    assert env["wsgi.url_scheme"] == "https"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["CONTENT_LENGTH"] == "8"
    assert env["_body_len"] == 8


def test_date_and_server_headers_h2(server_alive):
    with H2Client("127.0.0.1", server_alive.tls_port, tls=True) as c:
        r = c.wait_stream(c.get("/hello"))
        assert r.header("date", "").endswith("GMT"), r.headers
        assert r.header("server"), r.headers


@pytest.mark.parametrize("path,code", [("/status/204", 204), ("/status/304", 304)])
def test_no_body_statuses_h2(server_alive, path, code):
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        r = c.wait_stream(c.get(path))
        assert r.status == code and r.ended and r.reset is None, r
        assert bytes(r.data) == b""
        assert r.header("x-status") == str(code)
        if code == 204:
            assert r.header("content-length") in (None, "0"), r.headers


@pytest.mark.parametrize("path,code", [("/status/204", 204), ("/status/304", 304)])
def test_no_body_statuses_h1(server_alive, path, code):
    # keep-alive: a following request on the same socket must parse cleanly,
    # which fails if the server wrote a body or chunked terminator after 204/304
    port = server_alive.plain_port
    sock = http1.connect(port)
    reader = http1.Reader(sock)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n"
                  "Connection: close\r\n\r\n" % path).encode())
    r1 = http1.read_response(reader)
    assert r1.status == code
    assert r1.header("transfer-encoding") is None, r1.headers
    r2 = http1.read_response(reader)
    assert r2.status == 200 and r2.body == b"Hello, world!\n", r2
    sock.close()


def test_head_h2(server_alive):
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        r = c.wait_stream(c.request("HEAD", "/head"))
        assert r.status == 200 and r.ended, r
        assert bytes(r.data) == b""


def test_head_h1(server_alive):
    port = server_alive.plain_port
    sock = http1.connect(port)
    reader = http1.Reader(sock)
    sock.sendall(b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n"
                 b"Connection: close\r\n\r\n")
    r1 = http1.read_response(reader, method="HEAD")
    assert r1.status == 200
    r2 = http1.read_response(reader)
    assert r2.status == 200 and r2.body == b"Hello, world!\n", (r1, r2)
    sock.close()


def test_write_callable(server_alive):
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        r = c.wait_stream(c.get("/write"))
        assert r.status == 200
        assert bytes(r.data) == b"hello from write()\n"
    resp = http1.simple(server_alive.plain_port, "GET", "/write")
    assert resp.status == 200 and resp.body == b"hello from write()\n"


def test_empty_body(server_alive):
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        r = c.wait_stream(c.get("/empty"))
        assert r.status == 200 and r.ended and bytes(r.data) == b""
    resp = http1.simple(server_alive.plain_port, "GET", "/empty")
    assert resp.status == 200 and resp.body == b""


@pytest.mark.parametrize("tls", [False, True])
def test_early_hints_h2(server_alive, tls):
    port = server_alive.tls_port if tls else server_alive.plain_port
    with H2Client("127.0.0.1", port, tls=tls) as c:
        r = c.wait_stream(c.get("/early-hints"))
        assert r.status == 200, r
        assert bytes(r.data) == b"after early hints\n"
        assert len(r.informational) == 1, r.informational
        hints = dict(r.informational[0])
        assert hints[":status"] == "103"
        assert hints.get("link") == "</s.css>; rel=preload", r.informational


def test_early_hints_h1(server_alive):
    port = server_alive.plain_port
    sock = http1.connect(port)
    sock.sendall(b"GET /early-hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reader = http1.Reader(sock)
    resp = http1.read_response(reader)
    sock.close()
    assert resp.status == 200 and resp.body == b"after early hints\n"
    assert [s for s, _ in resp.informational] == [103], resp.informational
    assert ("link", "</s.css>; rel=preload") in resp.informational[0][1]


def test_early_hints_h1_raw_bytes(server_alive):
    sock = http1.connect(server_alive.plain_port)
    sock.sendall(b"GET /early-hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = http1.Reader(sock).read_to_eof()
    sock.close()
    assert data.startswith(b"HTTP/1.1 103"), data[:200]
    assert b"\r\n\r\nHTTP/1.1 200" in data, data[:400]


def test_early_hints_not_sent_to_http10(server_alive):
    sock = http1.connect(server_alive.plain_port)
    sock.sendall(b"GET /early-hints HTTP/1.0\r\nHost: x\r\n\r\n")
    data = http1.Reader(sock).read_to_eof()
    sock.close()
    assert b" 103 " not in data.split(b"\r\n\r\n")[0], data[:300]
    assert data.split(b" ", 2)[1] == b"200", data[:300]


@pytest.mark.parametrize("tls", [False, True])
def test_hop_by_hop_stripped_h2(server_alive, tls):
    port = server_alive.tls_port if tls else server_alive.plain_port
    with H2Client("127.0.0.1", port, tls=tls) as c:
        r = c.wait_stream(c.get("/hop"))
        assert r.status == 200 and r.ended and r.reset is None, r
        names = [k for k, _ in r.headers]
        for h in HOP:
            assert h not in names, "hop-by-hop header %r sent over h2: %r" % (h, r.headers)
        assert r.header("x-kept") == "yes"
        assert bytes(r.data) == b"hop-by-hop\n"
        assert c.goaway is None


def test_response_header_names_lowercase_h2(server_alive):
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        r = c.wait_stream(c.get("/hello"))
        for k, _ in r.headers:
            assert k == k.lower(), r.headers
        assert r.header("content-type") == "text/plain; charset=utf-8"


def test_zz_no_lint_warnings(server_alive):
    """werkzeug's LintMiddleware saw nothing wrong in all of the above."""
    for port, tls in ((server_alive.plain_port, False), (server_alive.tls_port, True)):
        resp = http1.simple(port, "GET", "/lint-warnings", tls=tls)
        assert resp.status == 200
        # werkzeug's lint wants "Content-Length: 0" on a 204, which RFC 9110 §8.6
        # forbids; our /status/204 app rightly sends none, so that one is ignored
        warnings = [w for w in json.loads(resp.body)
                    if "204 responses must have an empty content length" not in w]
        assert warnings == [], resp.body
