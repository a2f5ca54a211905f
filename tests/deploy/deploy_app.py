"""WSGI app for the deploy recipe tests: who answered (pid), server-sent events, a call counter
(to prove the health path never reaches the app); everything else goes to tests/apps.py."""
import os
import threading
import time
from urllib.parse import parse_qs

from apps import app as base_app
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


app = LintMiddleware(_raw)
