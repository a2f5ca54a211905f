"""WSGI app for the deploy recipe tests: who answered (pid), server-sent events, a call counter
(to prove the health path never reaches the app), a WebSocket echo on /ws; everything else goes
to tests/apps.py."""
import os
import threading
import time
from urllib.parse import parse_qs

from apps import app as base_app
from websocket_apps import echo
from werkzeug.middleware.lint import LintMiddleware

CALLS = [0]
_lock = threading.Lock()


def _sse(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(q.get("n", ["3"])[0])
    delay = float(q.get("delay", ["1.0"])[0])
    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])

    def events():
        for i in range(n):
            yield b"data: event %d at %.3f\n\n" % (i, time.time())
            time.sleep(delay)
    return events()


def _raw(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/calls":
        body = str(CALLS[0]).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    with _lock:
        CALLS[0] += 1
    if path == "/who":
        body = ("%d" % os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/sse":
        return _sse(environ, start_response)
    return base_app(environ, start_response)


_linted = LintMiddleware(_raw)


def app(environ, start_response):
    """/ws with a WebSocket handshake echoes (the response is the WebSocket, so not linted)."""
    ws = environ.get("wsgi.websocket")
    if ws is not None and environ.get("PATH_INFO") == "/ws":
        echo(ws, environ)
        return []
    return _linted(environ, start_response)
