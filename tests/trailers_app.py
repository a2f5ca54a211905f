"""WSGI routes for the trailer tests (``trailers_app:app`` with tests/ on sys.path).

Every route but ``/fast`` goes through werkzeug's LintMiddleware; ``/fast`` must return a plain
one-item list (the `return [body]` fast path), which the linter's wrapper would hide.
"""
import hashlib
import json
import time
from urllib.parse import parse_qs

from werkzeug.middleware.lint import LintMiddleware


def _qs(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def grpc(environ, start_response):
    """gRPC-style: a streamed body, then grpc-status / grpc-message trailers."""
    n = int(_qs(environ).get("n", "3"))
    start_response("200 OK", [("Content-Type", "application/grpc"), ("Trailer", "grpc-status")])
    send_trailers = environ["gunicorn.http2.send_trailers"]  # gunicorn's name, same callable

    def body():
        for i in range(n):
            yield b"message %d\n" % i
            time.sleep(0.01)
        send_trailers([("grpc-status", "0"), ("grpc-message", "all good")])
    return body()


def ext(environ, start_response):
    """As connect-python does: `wsgi.ext.http.send_trailers` between chunks (or before any, for
    n=0: gRPC's trailers-only), then empty chunks; `x-ext` says whether the key was offered."""
    n = int(_qs(environ).get("n", "2"))
    send_trailers = environ.get("wsgi.ext.http.send_trailers")
    start_response("200 OK", [("Content-Type", "application/grpc"),
                              ("x-ext", "1" if send_trailers else "0")])

    def body():
        for i in range(n):
            yield b"message %d\n" % i
        if send_trailers is not None:
            assert send_trailers == environ["greenh2.send_trailers"]
            send_trailers([("grpc-status", "0"), ("grpc-message", "all good")])
        yield b""
        yield b""
    return body()


def fast(environ, start_response):
    """Trailers set before the single-chunk body is returned."""
    body = b"fast path body\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    environ["greenh2.send_trailers"]([("x-checksum", hashlib.sha256(body).hexdigest())])
    return [body]


def refused(environ, start_response):
    """The app tries a forbidden trailer field, catches the ValueError, and finishes."""
    name = _qs(environ).get("name", "connection")
    start_response("200 OK", [("Content-Type", "text/plain")])
    environ["greenh2.send_trailers"]([("x-good", "1")])
    try:
        environ["greenh2.send_trailers"]([(name, "x")])
        message = "accepted"
    except ValueError as exc:
        message = "ValueError: %s" % exc

    def body():
        yield message.encode("utf-8") + b"\n"
    return body()


def request_trailers(environ, start_response):
    """Reads the whole body, reports the request trailers before and after."""
    get = environ["greenh2.request_trailers"]
    before = get()
    data = b"".join(iter(lambda: environ["wsgi.input"].read(65536), b""))
    after = get()
    body = json.dumps({"before": before, "after": after, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


ROUTES = {"/grpc": grpc, "/ext": ext, "/refused": refused, "/request-trailers": request_trailers}
_linted = {path: LintMiddleware(route) for path, route in ROUTES.items()}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/fast":
        return fast(environ, start_response)
    route = _linted.get(path)
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return []
    return route(environ, start_response)
