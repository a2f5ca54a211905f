"""WSGI apps for the WebSocket tests (``websocket_apps:app`` with tests/ on sys.path).

WebSocket routes use ``environ['wsgi.websocket']`` the gevent-websocket way; they are not plain
WSGI (the response is the WebSocket), so only the ordinary route goes through LintMiddleware.
"""
import json
from urllib.parse import parse_qs

from werkzeug.middleware.lint import LintMiddleware


def _plain(environ, start_response):
    body = b"no websocket here\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


plain = LintMiddleware(_plain)


def echo(ws, environ):
    while True:
        message = ws.receive()
        if message is None:
            return
        ws.send(message)


def echo_logged(ws, environ):
    """Echo, then say on stderr that the receive loop saw the close (no traceback)."""
    echo(ws, environ)
    environ["wsgi.errors"].write("echo loop ended: closed=%s\n" % ws.closed)
    environ["wsgi.errors"].flush()


def info(ws, environ):
    keys = ("REQUEST_METHOD", "HTTP_UPGRADE", "HTTP_CONNECTION", "HTTP_SEC_WEBSOCKET_KEY",
            "HTTP_SEC_WEBSOCKET_VERSION", "SERVER_PROTOCOL", "greenh2.protocol",
            "greenh2.stream_id", "wsgi.websocket_version", "PATH_INFO", "QUERY_STRING")
    data = {k: environ.get(k) for k in keys}
    data.update(path=ws.path, origin=ws.origin, version=ws.version)
    ws.send(json.dumps(data))
    echo(ws, environ)


def close_with(ws, environ):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    ws.receive()
    ws.close(int(q.get("code", ["1000"])[0]), q.get("reason", [""])[0])
    assert ws.receive() is None
    assert ws.closed


def push(ws, environ):
    """Send n messages of size bytes as fast as the client takes them."""
    q = parse_qs(environ.get("QUERY_STRING", ""))
    n, size = int(q.get("n", ["1000"])[0]), int(q.get("size", ["1024"])[0])
    for _ in range(n):
        ws.send(b"x" * size)


def subprotocol(ws, environ):
    ws.accept(subprotocol="chat.v2")
    ws.send(ws.protocol)
    echo(ws, environ)


ROUTES = {"/echo": echo, "/echo-logged": echo_logged, "/info": info, "/close": close_with, "/push": push,
          "/subprotocol": subprotocol}


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    handler = ROUTES.get(environ["PATH_INFO"])
    if ws is None or handler is None:
        return plain(environ, start_response)
    handler(ws, environ)
    return []
