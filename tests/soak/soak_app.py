"""The app of the chaos soak (``soak.soak_app:app`` with tests/ on sys.path): WebSocket
upgrades go to websocket_apps (``/echo``), ``/events`` is a finite server-sent event stream,
every other request goes to apps:app (``/hello``, ``/sleep``, ``/pid`` ...), so one backend
serves the whole mixed load.

With $SOAK_TRACE_DIR set, every request that carries ``id=`` in its query string is traced to
``<dir>/<pid>.trace``: ``b <id> <time>`` when the app gets it and ``e <id> <time>`` when its
response is done (the iterable closed, the WebSocket handler returned). One unbuffered
``O_APPEND`` write per line, so the lines of a worker that is SIGKILLed survive it: the soak
uses them to tell what was in flight on the killed worker (the only thing a SIGKILL may lose)
from a loss on its sibling."""
import os
import time
from urllib.parse import parse_qs

import apps
import websocket_apps

_TRACE_DIR = os.environ.get("SOAK_TRACE_DIR")
_trace_fd = None
_trace_pid = None


def _trace(kind, rid):
    global _trace_fd, _trace_pid
    if _TRACE_DIR is None or rid is None:
        return
    if _trace_pid != os.getpid():  # a worker forked after the import: its own file
        _trace_pid = os.getpid()
        _trace_fd = os.open(os.path.join(_TRACE_DIR, "%d.trace" % _trace_pid),
                            os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(_trace_fd, b"%s %s %.6f\n" % (kind.encode(), rid.encode(), time.time()))


class _Traced:
    """The response iterable, with an ``e`` trace line once the server closes it."""

    def __init__(self, body, rid):
        self.body, self.rid = body, rid

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            _trace("e", self.rid)


def events(environ, start_response):
    """``/events?n=8&every=0.2``: n events ``every`` seconds apart, then the end of the
    response (text/event-stream, no Content-Length: chunked on HTTP/1.1, END_STREAM on h2)."""
    q = parse_qs(environ.get("QUERY_STRING", ""))
    n, every = int(q.get("n", ["8"])[0]), float(q.get("every", ["0.2"])[0])
    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])

    def gen():
        for i in range(n):
            if i:
                time.sleep(every)
            yield b"id: %d\ndata: event %d\n\n" % (i, i)
    return gen()


def app(environ, start_response):
    rid = parse_qs(environ.get("QUERY_STRING", "")).get("id", [None])[0]
    _trace("b", rid)
    if environ.get("wsgi.websocket") is not None:
        try:
            return websocket_apps.app(environ, start_response)
        finally:
            _trace("e", rid)
    if environ.get("PATH_INFO") == "/events":
        body = events(environ, start_response)
    else:
        body = apps.app(environ, start_response)
    return _Traced(body, rid) if rid is not None else body
