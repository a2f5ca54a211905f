"""WSGI routes for the max_body_size tests (``bodycap_app:app`` with tests/ on sys.path).

``/calls`` counts how often each route was called, so a test can tell that a 413 came before
the app ran. ``/flask/...`` is a Flask app that does not catch anything.
"""
import json
import time
from collections import Counter

from flask import Flask, request

from greenh2.errors import RequestBodyTooLarge

CALLS: Counter = Counter()
flask_app = Flask(__name__)


@flask_app.route("/flask/read", methods=["POST", "PUT"])
def flask_read():
    return "flask read %d\n" % len(request.get_data())


def _text(start_response, body, status="200 OK"):
    body = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def read_all(environ, start_response):
    """wsgi.input.read() in one call."""
    return _text(start_response, "read %d\n" % len(environ["wsgi.input"].read()))


def read_blocks(environ, start_response):
    """read(100) until the end (how apps stream a body they process as it comes)."""
    total = 0
    for block in iter(lambda: environ["wsgi.input"].read(100), b""):
        total += len(block)
    return _text(start_response, "read %d\n" % total)


def started(environ, start_response):
    """The response starts (head + one chunk), then the body is read: too late for a 413."""
    start_response("200 OK", [("Content-Type", "text/plain")])

    def body():
        yield b"started\n"
        yield b"read %d\n" % len(environ["wsgi.input"].read())
    return body()


def catch(environ, start_response):
    """The app catches the limit and answers itself (422 with its own body)."""
    try:
        environ["wsgi.input"].read()
    except RequestBodyTooLarge as exc:
        return _text(start_response, json.dumps({"limit": exc.limit}), "422 Unprocessable Content")
    return _text(start_response, "no limit hit\n")


def ignore(environ, start_response):
    """Never reads the body."""
    return _text(start_response, "ignored\n")


def sleep(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or "0.3"))
    return _text(start_response, "slept\n")


def hold(environ, start_response):
    """Does not read the body; answers once /release has been called (at most 10 s)."""
    deadline = time.monotonic() + 10
    while not CALLS["/release"] and time.monotonic() < deadline:
        time.sleep(0.01)
    return _text(start_response, "held\n")


def calls(environ, start_response):
    return _text(start_response, json.dumps(dict(CALLS)))


ROUTES = {"/read": read_all, "/blocks": read_blocks, "/started": started, "/catch": catch,
          "/ignore": ignore, "/sleep": sleep, "/hold": hold, "/release": ignore, "/calls": calls}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    CALLS[path] += 1
    if path.startswith("/flask/"):
        return flask_app(environ, start_response)
    return ROUTES.get(path, ignore)(environ, start_response)
