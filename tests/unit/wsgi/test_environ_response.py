"""greenh2.wsgi.environ: the environ, header checks and the PEP 3333 response rules, over a fake Sink."""
import gc
import sys
import warnings

import pytest
from werkzeug.middleware.lint import HTTPWarning, LintMiddleware, WSGIWarning

from greenh2.errors import StreamGone
from greenh2.wsgi.environ import ConnInfo, RequestHead, base_environ, build_environ
from greenh2.wsgi.input_stream import InputStream
from greenh2.wsgi.response import check_headers, run_app


class FakeSink:
    """Records every call the Response makes, in order."""

    def __init__(self, fail_write=None):
        self.calls = []
        self.fail_write = fail_write

    def informational(self, status, headers):
        self.calls.append(("informational", status, list(headers)))

    def start(self, status, reason, headers, end):
        self.calls.append(("start", status, reason, list(headers), end))

    def write(self, data, end=False):
        if self.fail_write is not None:
            raise self.fail_write
        self.calls.append(("write", bytes(data)))
        if end:  # the last chunk carries the end of the response: same as write + finish
            self.calls.append(("finish",))

    def finish(self):
        self.calls.append(("finish",))

    def abort(self):
        self.calls.append(("abort",))

    # helpers
    def kinds(self):
        return [c[0] for c in self.calls]

    def body(self):
        return b"".join(c[1] for c in self.calls if c[0] == "write")

    def start_call(self):
        starts = [c for c in self.calls if c[0] == "start"]
        assert len(starts) == 1, self.calls
        return starts[0]

    def header(self, name):
        return [v for n, v in self.start_call()[3] if n.lower() == name]


def conninfo(scheme="http"):
    info = ConnInfo(server_name="example.com", server_port="8000", remote_addr="10.0.0.1",
                    remote_port="5555", url_scheme=scheme, alpn="h2")
    info.base = base_environ(info)
    return info


def empty_body():
    return InputStream(lambda n: b"")


def body_of(data, step=3):
    parts = [data[i:i + step] for i in range(0, len(data), step)]

    def pull(n):
        return parts.pop(0) if parts else b""
    return InputStream(pull)


def environ_for(method="GET", target="/", headers=None, protocol="HTTP/1.1", body_length=0,
                authority="", scheme="http", body=None):
    head = RequestHead(method, target, protocol, list(headers or [("host", "example.com")]),
                       authority=authority, body_length=body_length)
    return build_environ(head, conninfo(scheme), body or empty_body())


# --- build_environ ------------------------------------------------------------------------------

def test_path_info_is_percent_decoded_to_latin1_and_query_is_raw():
    env = environ_for(target="/caf%C3%A9/a%2Fb/%20x?q=%20y&z=%C3%A9")
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a/b/ x"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café/a/b/ x"
    assert env["QUERY_STRING"] == "q=%20y&z=%C3%A9"
    assert env["REQUEST_URI"] == env["RAW_URI"] == "/caf%C3%A9/a%2Fb/%20x?q=%20y&z=%C3%A9"


def test_empty_query_and_only_first_question_mark_splits():
    assert environ_for(target="/p")["QUERY_STRING"] == ""
    env = environ_for(target="/p?a=1?b=2")
    assert env["PATH_INFO"] == "/p" and env["QUERY_STRING"] == "a=1?b=2"


def test_cookie_crumbs_joined_with_semicolon():
    env = environ_for(headers=[("cookie", "a=1"), ("accept", "x"), ("cookie", "b=2; c=3")],
                      protocol="HTTP/2.0", authority="example.com")
    assert env["HTTP_COOKIE"] == "a=1; b=2; c=3"


def test_repeated_headers_joined_with_comma():
    env = environ_for(headers=[("accept", "text/html"), ("x-multi", "1"), ("accept", "*/*"),
                               ("x-multi", "2"), ("x-multi", "3")])
    assert env["HTTP_ACCEPT"] == "text/html, */*"
    assert env["HTTP_X_MULTI"] == "1, 2, 3"


def test_header_names_with_underscore_are_dropped():
    env = environ_for(headers=[("x-forwarded-for", "1.1.1.1"), ("x_forwarded_for", "6.6.6.6"),
                               ("content_length", "99")])
    assert env["HTTP_X_FORWARDED_FOR"] == "1.1.1.1"
    assert "CONTENT_LENGTH" not in env


def test_http_host_from_authority():
    env = environ_for(headers=[("accept", "*/*")], protocol="HTTP/2.0",
                      authority="example.org:8443")
    assert env["HTTP_HOST"] == "example.org:8443"
    env = environ_for(headers=[("host", "other.example")], protocol="HTTP/2.0",
                      authority="example.org")
    assert env["HTTP_HOST"] == "example.org"  # :authority wins over Host (RFC 9113 §8.3.1)


def test_pseudo_headers_are_not_in_environ():
    env = environ_for(headers=[(":method", "GET"), (":path", "/"), ("accept", "*/*")],
                      protocol="HTTP/2.0")
    assert not [k for k in env if ":" in k]
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0" and env["greenh2.protocol"] == "h2"


def test_content_type_and_length_have_no_http_prefix():
    env = environ_for("POST", headers=[("content-type", "application/json"),
                                       ("content-length", "12")], body_length=12)
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "12"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


@pytest.mark.parametrize("method,body_length,expected", [
    ("POST", 5, "5"), ("POST", 0, "0"), ("PUT", 0, "0"), ("GET", 7, "7"),
    ("GET", 0, None), ("HEAD", 0, None), ("POST", None, None),
])
def test_content_length_synthesized_from_body_length(method, body_length, expected):
    env = environ_for(method, headers=[("accept", "*/*")], body_length=body_length,
                      protocol="HTTP/2.0")
    assert env.get("CONTENT_LENGTH") == expected


def test_base_environ_keys():
    env = environ_for(scheme="https")
    assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
    assert env["wsgi.version"] == (1, 0) and env["SCRIPT_NAME"] == ""
    assert env["SERVER_NAME"] == "example.com" and env["SERVER_PORT"] == "8000"
    assert env["REMOTE_ADDR"] == "10.0.0.1" and env["REMOTE_PORT"] == "5555"
    assert env["wsgi.input_terminated"] is True
    assert "HTTPS" not in environ_for(scheme="http")


def test_environ_values_are_native_strings():
    env = environ_for(target="/%FF%00x?y", headers=[("x-bin", "\xff\xfe")])
    for key, value in env.items():
        if key.isupper():
            assert isinstance(value, str), key
            value.encode("latin-1")


# --- check_headers ------------------------------------------------------------------------------

def test_check_headers_accepts_good_headers():
    assert check_headers("200 OK", [("Content-Type", "text/plain"), ("X-Caf", "caf\xe9")]) == 200
    assert check_headers("404 Not Found", []) == 404
    assert check_headers("299 ", []) == 299


@pytest.mark.parametrize("status,headers,exc", [
    (b"200 OK", [], ValueError),
    ("200", [], ValueError),
    ("200OK", [], ValueError),
    ("OK 200", [], ValueError),
    (200, [], ValueError),
    ("200 OK", (("a", "b"),), TypeError),
    ("200 OK", [["a", "b"]], TypeError),
    ("200 OK", [("a", "b", "c")], TypeError),
    ("200 OK", [(b"a", "b")], TypeError),
    ("200 OK", [("a", b"b")], TypeError),
    ("200 OK", [("a", 1)], TypeError),
    ("200 OK", [("X-A", "b\r\nSet-Cookie: evil=1")], ValueError),
    ("200 OK", [("X-A", "b\nc")], ValueError),
    ("200 OK", [("X-A", "b\rc")], ValueError),
    ("200 OK", [("X-A", "b\0c")], ValueError),
    ("200 OK", [("Bad Name", "b")], ValueError),
    ("200 OK", [("Bad:Name", "b")], ValueError),
    ("200 OK", [("", "b")], ValueError),
    ("200 OK", [("X-\u00e9", "b")], ValueError),
    ("200 OK", [("X-A", "\u20ac")], ValueError),  # not latin-1
])
def test_check_headers_rejects(status, headers, exc):
    with pytest.raises(exc):
        check_headers(status, headers)


# --- run_app ------------------------------------------------------------------------------------

class Body:
    """A WSGI iterable that records whether close() was called, optionally failing."""

    def __init__(self, chunks, fail_at=None, sink=None):
        self.chunks, self.fail_at, self.sink = list(chunks), fail_at, sink
        self.closed = 0
        self.seen = []  # the sink's calls at the time each chunk was produced

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("boom in iteration")
            if self.sink is not None:
                self.seen.append(list(self.sink.kinds()))
            yield chunk
        if self.fail_at == len(self.chunks):
            raise RuntimeError("boom at the end")

    def close(self):
        self.closed += 1


def simple_app(body, status="200 OK", headers=None):
    def app(environ, start_response):
        start_response(status, list(headers or [("Content-Type", "text/plain")]))
        return body
    return app


def test_headers_sent_only_with_first_non_empty_chunk():
    sink = FakeSink()
    body = Body([b"", b"", b"hello", b"", b" world"], sink=sink)
    run_app(simple_app(body), environ_for(), sink, "greenh2")
    assert body.seen[:3] == [[], [], []]  # nothing sent while only empty chunks came
    assert sink.kinds() == ["start", "write", "write", "finish"]
    assert sink.start_call()[4] is False
    assert sink.body() == b"hello world"
    assert body.closed == 1


@pytest.mark.parametrize("chunks", [[], [b""], [b"", b""]])
def test_empty_body_flushes_headers_with_end(chunks):
    sink = FakeSink()
    run_app(simple_app(chunks), environ_for(), sink, "greenh2")
    assert sink.kinds() == ["start"]
    status, reason, end = sink.calls[0][1], sink.calls[0][2], sink.calls[0][4]
    assert (status, reason, end) == (200, "OK", True)


def test_date_and_server_headers_added_once():
    sink = FakeSink()
    run_app(simple_app([b"x"]), environ_for(), sink, "greenh2-test")
    assert sink.header("server") == ["greenh2-test"]
    assert len(sink.header("date")) == 1 and sink.header("date")[0].endswith("GMT")
    sink = FakeSink()
    run_app(simple_app([b"x"], headers=[("Server", "mine"), ("Date", "d")]), environ_for(),
            sink, "greenh2-test")
    assert sink.header("server") == ["mine"] and sink.header("date") == ["d"]
    sink = FakeSink()
    run_app(simple_app([b"x"]), environ_for(), sink, "")
    assert sink.header("server") == []


def test_write_callable():
    sink = FakeSink()

    def app(environ, start_response):
        write = start_response("201 Created", [("Content-Type", "text/plain")])
        write(b"one ")
        write(bytearray(b"two "))
        return [b"three"]

    run_app(app, environ_for("POST"), sink, "g")
    assert sink.kinds() == ["start", "write", "write", "write", "finish"]
    assert sink.start_call()[1:3] == (201, "Created")
    assert sink.body() == b"one two three"


def test_exc_info_before_headers_replaces_the_response():
    sink = FakeSink()

    def app(environ, start_response):
        start_response("200 OK", [("X-A", "1")])
        try:
            raise KeyError("x")
        except KeyError:
            start_response("503 Service Unavailable", [("X-B", "2")], sys.exc_info())
        return [b"sorry"]

    run_app(app, environ_for(), sink, "g")
    start = sink.start_call()
    assert start[1] == 503 and ("X-B", "2") in start[3] and ("X-A", "1") not in start[3]
    assert sink.body() == b"sorry" and sink.kinds()[-1] == "finish"


def test_exc_info_after_headers_is_reraised():
    sink = FakeSink()
    seen = []

    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"partial")
        try:
            raise ValueError("late failure")
        except ValueError as exc:
            try:
                start_response("500 Internal Server Error", [], sys.exc_info())
            except ValueError as again:
                seen.append(again is exc)
                raise
        return [b"never"]

    run_app(app, environ_for(), sink, "g")
    assert seen == [True]
    assert sink.kinds() == ["start", "write", "abort"]


def test_second_start_response_without_exc_info_is_an_error():
    sink = FakeSink()
    raised = []

    def app(environ, start_response):
        start_response("200 OK", [])
        try:
            start_response("404 Not Found", [])
        except Exception as exc:  # PEP 3333: an error
            raised.append(exc)
        return [b"first wins"]

    run_app(app, environ_for(), sink, "g")
    assert len(raised) == 1
    assert sink.start_call()[1] == 200 and sink.body() == b"first wins"


def test_second_start_response_uncaught_gives_500():
    sink = FakeSink()

    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("404 Not Found", [])
        return [b"x"]

    run_app(app, environ_for(), sink, "g")
    assert sink.start_call()[1] == 500


@pytest.mark.parametrize("fail_at", [0, 1, 2])
def test_close_always_called(fail_at):
    sink = FakeSink()
    body = Body([b"a", b"b"], fail_at=fail_at)
    run_app(simple_app(body), environ_for(), sink, "g")
    assert body.closed == 1


def test_close_called_when_start_response_rejects_headers():
    sink = FakeSink()
    body = Body([b"a"])

    def app(environ, start_response):
        start_response("200 OK", [("X-A", "bad\r\nvalue")])
        return body

    run_app(app, environ_for(), sink, "g")
    assert sink.start_call()[1] == 500
    # the app raised before returning the body: nothing to close, nothing leaked
    assert body.closed == 0


def test_close_called_when_sink_reports_stream_gone():
    sink = FakeSink(fail_write=StreamGone("reset by peer"))
    body = Body([b"a", b"b"])
    run_app(simple_app(body), environ_for(), sink, "g")
    assert body.closed == 1
    assert "abort" not in sink.kinds()  # the stream is gone already; nothing to abort


def test_close_error_is_swallowed():
    class BadClose(Body):
        def close(self):
            raise OSError("close failed")

    sink = FakeSink()
    run_app(simple_app(BadClose([b"a"])), environ_for(), sink, "g")
    assert sink.kinds() == ["start", "write", "finish"]


def test_exception_before_headers_gives_500():
    sink = FakeSink()

    def app(environ, start_response):
        raise RuntimeError("broken app")

    run_app(app, environ_for(), sink, "g")
    status, reason, headers = sink.start_call()[1:4]
    assert status == 500 and reason == "Internal Server Error"
    body = sink.body()
    assert body and ("content-length", str(len(body))) in headers
    assert sink.kinds()[-1] == "finish"


def test_exception_after_start_response_but_before_body_gives_500():
    sink = FakeSink()
    body = Body([b"", b"x"], fail_at=1)
    run_app(simple_app(body, headers=[("X-Custom", "1")]), environ_for(), sink, "g")
    start = sink.start_call()
    assert start[1] == 500 and ("X-Custom", "1") not in start[3]
    assert body.closed == 1


def test_exception_after_headers_aborts():
    sink = FakeSink()
    body = Body([b"a", b"b", b"c"], fail_at=2)
    run_app(simple_app(body), environ_for(), sink, "g")
    assert sink.kinds() == ["start", "write", "write", "abort"]
    assert body.closed == 1


def test_str_chunk_is_an_app_error():
    sink = FakeSink()
    run_app(simple_app(["text, not bytes"]), environ_for(), sink, "g")
    assert sink.start_call()[1] == 500


def test_body_before_start_response_is_an_app_error():
    sink = FakeSink()

    def app(environ, start_response):
        yield b"too early"
        start_response("200 OK", [])

    run_app(app, environ_for(), sink, "g")
    assert sink.start_call()[1] == 500


def test_head_sends_no_body():
    sink = FakeSink()
    run_app(simple_app([b"hello"], headers=[("Content-Length", "5")]), environ_for("HEAD"),
            sink, "g")
    assert "write" not in sink.kinds() and "abort" not in sink.kinds()
    assert sink.header("content-length") == ["5"]
    assert sink.kinds()[0] == "start" and (sink.kinds()[-1] == "finish" or sink.calls[0][4])


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses_send_no_body(status):
    sink = FakeSink()
    run_app(simple_app([b"ignored body"], status=status), environ_for(), sink, "g")
    assert "write" not in sink.kinds() and "abort" not in sink.kinds()
    assert sink.start_call()[1] == int(status[:3])


@pytest.mark.parametrize("chunks", [[b"abc"], [b"a", b"b"]], ids=["short", "short-2"])
def test_body_shorter_than_content_length_aborts(chunks):
    sink = FakeSink()
    run_app(simple_app(chunks, headers=[("Content-Length", "10")]), environ_for(), sink, "g")
    assert sink.kinds()[-1] == "abort"
    assert "finish" not in sink.kinds()
    assert not any(c[0] == "start" and c[4] for c in sink.calls)  # never a clean end


@pytest.mark.parametrize("chunks", [[], [b""]], ids=["none", "empty-chunk"])
def test_no_body_despite_content_length_is_not_a_clean_200(chunks):
    """Content-Length: 10 and no body at all: the 200 must not end cleanly (a client would wait
    for 10 bytes, or h2 peers see a content-length mismatch). Aborting or a 500 are both fine."""
    sink = FakeSink()
    run_app(simple_app(chunks, headers=[("Content-Length", "10")]), environ_for(), sink, "g")
    starts = [c for c in sink.calls if c[0] == "start"]
    clean_200 = any(c[1] == 200 and c[4] for c in starts) or \
        (starts and starts[0][1] == 200 and "finish" in sink.kinds())
    assert not clean_200, sink.calls


def test_body_longer_than_content_length_is_truncated():
    sink = FakeSink()
    run_app(simple_app([b"abc", b"defgh", b"ijk"], headers=[("Content-Length", "5")]),
            environ_for(), sink, "g")
    assert sink.body() == b"abcde"
    assert sink.kinds() == ["start", "write", "write", "finish"]


@pytest.mark.parametrize("headers", [[], [("Content-Length", "10")], [("Content-Length", "4")]])
def test_single_chunk_list_ends_exactly_once(headers):
    sink = FakeSink()
    run_app(simple_app([b"whole body"], headers=headers), environ_for(), sink, "g")
    expected = b"whole body"[:int(headers[0][1])] if headers else b"whole body"
    assert sink.kinds() == ["start", "write", "finish"]
    assert sink.body() == expected


def test_exact_content_length_finishes():
    sink = FakeSink()
    run_app(simple_app([b"ab", b"cde"], headers=[("content-length", "5")]), environ_for(),
            sink, "g")
    assert sink.kinds() == ["start", "write", "write", "finish"]


def test_early_hints():
    sink = FakeSink()

    def app(environ, start_response):
        environ["wsgi.early_hints"]([("Link", "</style.css>; rel=preload; as=style")])
        start_response("200 OK", [])
        # the head is not on the wire yet, so another 103 may still go first
        environ["wsgi.early_hints"]([("Link", "</font.woff2>; rel=preload")])
        return [b"page"]

    run_app(app, environ_for(), sink, "g")
    assert sink.calls[0] == ("informational", 103,
                             [("Link", "</style.css>; rel=preload; as=style")])
    assert sink.calls[1] == ("informational", 103, [("Link", "</font.woff2>; rel=preload")])
    assert sink.kinds() == ["informational", "informational", "start", "write", "finish"]


def test_early_hints_headers_are_checked():
    sink = FakeSink()

    def app(environ, start_response):
        environ["wsgi.early_hints"]([("Link", "a\r\nb")])
        start_response("200 OK", [])
        return [b"x"]

    run_app(app, environ_for(), sink, "g")
    assert "informational" not in sink.kinds()
    assert sink.start_call()[1] == 500


def test_early_hints_after_body_started_is_ignored():
    sink = FakeSink()

    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"x")
        environ["wsgi.early_hints"]([("Link", "</a.css>; rel=preload")])
        return []

    run_app(app, environ_for(), sink, "g")
    assert "informational" not in sink.kinds()


# --- under werkzeug's LintMiddleware ------------------------------------------------------------

def lint_run(app, environ, sink):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_app(LintMiddleware(app), environ, sink, "g")
        gc.collect()  # lint warns from __del__ if the iterable was never closed
    return [w for w in caught if issubclass(w.category, (WSGIWarning, HTTPWarning))]


def test_lint_clean_for_a_correct_app():
    sink = FakeSink()

    def app(environ, start_response):
        data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        body = b"hello " + data
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body[:3], body[3:]]

    env = environ_for("POST", headers=[("content-type", "text/plain")], body_length=5,
                      body=body_of(b"world", step=2))
    bad = lint_run(app, env, sink)
    assert [str(w.message) for w in bad] == []
    assert sink.body() == b"hello world"
    assert sink.kinds()[-1] == "finish"


def test_lint_clean_for_write_and_generator():
    sink = FakeSink()

    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"a")

        def gen():
            yield b"b"
            yield b"c"
        return gen()

    bad = lint_run(app, environ_for(), sink, )
    assert [str(w.message) for w in bad] == []
    assert sink.body() == b"abc"


def test_lint_clean_for_head_and_304():
    for method, status in (("HEAD", "200 OK"), ("GET", "304 Not Modified")):
        sink = FakeSink()

        def app(environ, start_response, status=status):
            start_response(status, [("ETag", '"abc"')])
            return []

        bad = lint_run(app, environ_for(method), sink)
        assert [str(w.message) for w in bad] == [], method
