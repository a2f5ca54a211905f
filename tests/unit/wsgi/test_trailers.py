"""greenh2.wsgi trailers: send_trailers() through the Response over a recording Sink (when the
last DATA may carry the end, what reaches the sink, refused fields) and request trailers."""
import logging
import warnings

import pytest
from werkzeug.middleware.lint import LintMiddleware

from greenh2.wsgi.environ import ConnInfo, RequestHead, base_environ, build_environ
from greenh2.wsgi.input_stream import InputStream
from greenh2.wsgi.response import run_app
from greenh2.wsgi.trailers import check_trailers, request_trailers

GRPC = [("grpc-status", "0"), ("grpc-message", "ok")]


class RecordingSink:
    """Records each Sink call with its end flag, so 'the last DATA ended the stream' shows."""

    def __init__(self):
        self.calls = []

    def informational(self, status, headers):
        self.calls.append(("informational", status))

    def start(self, status, reason, headers, end):
        self.calls.append(("start", status, end))

    def write(self, data, end=False):
        self.calls.append(("write", bytes(data), end))

    def finish(self):
        self.calls.append(("finish",))

    def trailers(self, headers):
        self.calls.append(("trailers", list(headers)))

    def abort(self):
        self.calls.append(("abort",))


def environ_for(method="GET", trailers_source=None):
    info = ConnInfo("example.com", "8000", "10.0.0.1", "5555", "http")
    info.base = base_environ(info)
    head = RequestHead(method, "/", "HTTP/1.1", [("host", "example.com")], body_length=0,
                       trailers=trailers_source)
    return build_environ(head, info, InputStream(lambda n: b""))


def serve(app, method="GET", lint=True):
    sink = RecordingSink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a lint warning fails the test
        run_app(LintMiddleware(app) if lint else app, environ_for(method), sink, "")
    return sink.calls


def test_generator_body_then_trailers_sent_after_the_last_chunk():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/grpc")])

        def body():
            yield b"one"
            yield b"two"
            environ["greenh2.send_trailers"](GRPC)
        return body()

    assert serve(app) == [("start", 200, False), ("write", b"one", False), ("write", b"two", False),
                          ("trailers", GRPC)]


def test_single_chunk_fast_path_keeps_the_end_open_for_trailers_set_before():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        environ["greenh2.send_trailers"]([("x-checksum", "abc")])
        return [b"body"]

    # lint=False: LintMiddleware wraps the list, which would hide the `return [body]` fast path
    assert serve(app, lint=False) == [("start", 200, False), ("write", b"body", False),
                                      ("trailers", [("x-checksum", "abc")])]


def test_single_chunk_fast_path_without_trailers_still_ends_with_the_data():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"body"]

    assert serve(app, lint=False) == [("start", 200, False), ("write", b"body", True)]


def test_empty_body_with_trailers_sends_head_then_trailers():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        environ["gunicorn.http2.send_trailers"]([("x-t", "1")])
        return []

    assert serve(app) == [("start", 200, False), ("trailers", [("x-t", "1")])]


def test_write_callable_then_trailers():
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"a")
        environ["greenh2.send_trailers"]([("x-t", "1")])
        return []

    assert serve(app) == [("start", 200, False), ("write", b"a", False), ("trailers", [("x-t", "1")])]


def test_both_environ_names_are_the_same_callable_and_the_last_call_wins():
    seen = {}

    def app(environ, start_response):
        seen["same"] = environ["greenh2.send_trailers"] == environ["gunicorn.http2.send_trailers"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        environ["greenh2.send_trailers"]([("x-first", "1")])
        environ["gunicorn.http2.send_trailers"]([("x-second", 2)])  # int values, as gunicorn's str()
        return [b"x"]

    assert serve(app, lint=False)[-2:] == [("write", b"x", False), ("trailers", [("x-second", "2")])]
    assert seen["same"] is True


def test_empty_trailer_list_ends_normally():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        environ["greenh2.send_trailers"]([])
        return [b"x"]

    assert serve(app, lint=False) == [("start", 200, False), ("write", b"x", True)]


@pytest.mark.parametrize("name", [":status", ":path", "connection", "Transfer-Encoding", "te",
                                  "upgrade", "keep-alive", "proxy-connection", "content-length",
                                  "host", "authorization", "content-type", "content-encoding",
                                  "trailer", "set-cookie", "cache-control"])
def test_forbidden_field_raises_valueerror_naming_it(name, caplog):
    with pytest.raises(ValueError) as info:
        check_trailers([("x-fine", "1"), (name, "v")])
    assert repr(name) in str(info.value)
    outcome = {}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        environ["greenh2.send_trailers"]([("x-kept", "1")])
        try:
            environ["greenh2.send_trailers"]([("x-fine", "1"), (name, "v")])
        except ValueError as exc:
            outcome["error"] = str(exc)
        return [b"body"]

    with caplog.at_level(logging.ERROR, logger="greenh2"):
        calls = serve(app)
    assert repr(name) in outcome["error"]
    assert any("send_trailers refused" in r.getMessage() and repr(name) in r.getMessage()
               for r in caplog.records)
    # The refused call kept nothing; the earlier, valid trailers still go out after the body.
    assert calls == [("start", 200, False), ("write", b"body", False), ("trailers", [("x-kept", "1")])]


@pytest.mark.parametrize("fields,exc", [
    ([("x-a", b"0")], TypeError), ([("x-a",)], TypeError), ([(b"x-a", "0")], TypeError),
    ([("x a", "0")], ValueError), ([("x-a", "a\r\nb")], ValueError), ([("x-a", "\u20ac")], ValueError),
])
def test_bad_names_and_values(fields, exc):
    with pytest.raises(exc):
        check_trailers(fields)


def test_uncaught_refusal_is_an_app_error_before_the_head_gives_500_without_trailers():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        environ["greenh2.send_trailers"]([("x-ok", "1")])
        environ["greenh2.send_trailers"]([("content-length", "5")])
        return [b"never"]

    assert serve(app, lint=False) == [("start", 500, False),
                                      ("write", b"Internal Server Error\n", False), ("finish",)]


@pytest.mark.parametrize("method,status", [("HEAD", "200 OK"), ("GET", "204 No Content"),
                                           ("GET", "304 Not Modified")])
def test_trailers_dropped_for_responses_without_content(method, status):
    def app(environ, start_response):
        start_response(status, [])
        environ["greenh2.send_trailers"]([("x-t", "1")])
        return []

    assert serve(app, method, lint=False) == [("start", int(status[:3]), True)]


def test_send_trailers_after_the_end_is_ignored_with_a_warning(caplog):
    class Body:
        def __init__(self, environ):
            self.environ = environ

        def __iter__(self):
            yield b"x"

        def close(self):
            self.environ["greenh2.send_trailers"]([("x-late", "1")])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body(environ)

    with caplog.at_level(logging.WARNING, logger="greenh2"):
        calls = serve(app, lint=False)
    assert calls == [("start", 200, False), ("write", b"x", False), ("finish",)]
    assert any("after the response ended" in r.getMessage() for r in caplog.records)


# --- request trailers -----------------------------------------------------------------------------

def test_request_trailers_none_until_the_body_end_then_filtered():
    state = {"fields": None}
    env = environ_for(trailers_source=lambda: state["fields"])
    get = env["greenh2.request_trailers"]
    assert get() is None
    state["fields"] = [("x-checksum", "1"), ("content-length", "9"), ("host", "evil"), ("x-b", "2")]
    assert get() == [("x-checksum", "1"), ("x-b", "2")]
    state["fields"] = [("x-changed", "1")]
    assert get() == [("x-checksum", "1"), ("x-b", "2")]  # read once, then fixed


def test_request_trailers_empty_list_when_none_came_and_none_without_a_source():
    assert environ_for(trailers_source=lambda: [])["greenh2.request_trailers"]() == []
    assert request_trailers(None)() is None


@pytest.mark.parametrize("protocol, te, offered", [
    ("HTTP/2.0", None, True), ("HTTP/1.1", "trailers", True), ("HTTP/1.1", "gzip, Trailers;q=1", True),
    ("HTTP/1.1", None, False), ("HTTP/1.1", "gzip", False), ("HTTP/1.0", "trailers", False)])
def test_wsgi_ext_send_trailers_offered_where_trailers_can_travel(protocol, te, offered):
    info = ConnInfo("example.com", "8000", "10.0.0.1", "5555", "http")
    info.base = base_environ(info)
    headers = [("host", "example.com")] + ([("te", te)] if te else [])
    environ = build_environ(RequestHead("GET", "/", protocol, headers, body_length=0), info,
                            InputStream(lambda n: b""))
    seen = {}

    def app(environ, start_response):
        seen["ext"] = environ.get("wsgi.ext.http.send_trailers")
        seen["same"] = seen["ext"] == environ["greenh2.send_trailers"]
        start_response("200 OK", [])
        return []
    run_app(app, environ, RecordingSink(), "")
    assert (seen["ext"] is not None) is offered
    assert seen["same"] is offered


def test_trailers_between_chunks_then_empty_chunks_end_after_the_trailers():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/grpc")])

        def body():
            yield b"m1"
            environ["greenh2.send_trailers"](GRPC)
            yield b""
            yield b""
        return body()
    assert serve(app) == [("start", 200, False), ("write", b"m1", False), ("trailers", GRPC)]
