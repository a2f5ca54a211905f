"""WSGI routes for the full-duplex and cancellation tests (``duplex_app:app``, tests/ on sys.path).

/duplex answers each wsgi.input.read(4096) as it returns (a streaming body: short reads);
/fixed reads a Content-Length body in 4-byte blocks (file semantics: each block is whole);
/sleep sleeps in time.sleep and records how it ended, which /seen reports (one process);
/poll waits for environ['greenh2.cancelled'] instead (for --threads); /nap sleeps 0.6 s."""
import json
import time

SEEN = {}


def duplex(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    body = environ["wsgi.input"]

    def answers():
        while True:
            chunk = body.read(4096)
            if not chunk:
                return
            yield b"got %d:%s\n" % (len(chunk), chunk)
    return answers()


def fixed(environ, start_response):
    blocks = list(iter(lambda: environ["wsgi.input"].read(4), b""))
    body = json.dumps([b.decode() for b in blocks]).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def sleep(environ, start_response):
    key = environ.get("QUERY_STRING", "")
    cancelled = environ["greenh2.cancelled"]
    start = time.monotonic()
    SEEN[key] = {"state": "sleeping"}
    try:
        time.sleep(5)
        SEEN[key] = {"state": "slept", "elapsed": time.monotonic() - start}
    except BaseException as exc:
        SEEN[key] = {"state": "interrupted", "exception": type(exc).__name__,
                     "elapsed": time.monotonic() - start, "cancelled": cancelled.is_set()}
        raise
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept\n"]


def poll(environ, start_response):
    """For --threads (no StreamCancelled in a thread): poll environ['greenh2.cancelled']."""
    key = environ.get("QUERY_STRING", "")
    cancelled = environ["greenh2.cancelled"]
    start = time.monotonic()
    SEEN[key] = {"state": "sleeping"}
    while not cancelled.is_set() and time.monotonic() - start < 5:
        time.sleep(0.02)
    SEEN[key] = {"state": "interrupted" if cancelled.is_set() else "slept",
                 "elapsed": time.monotonic() - start, "reason": cancelled.reason}
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done\n"]


def nap(environ, start_response):
    """0.6 s asleep (past the HTTP/1.1 hang-up watch's 0.2 s), then the body it was sent."""
    body = environ["wsgi.input"].read()
    time.sleep(0.6)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body) + 6))])
    return [b"napped" + body]


def seen(environ, start_response):
    body = json.dumps(SEEN.get(environ.get("QUERY_STRING", ""))).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


ROUTES = {"/duplex": duplex, "/fixed": fixed, "/sleep": sleep, "/poll": poll, "/nap": nap,
          "/seen": seen}


def app(environ, start_response):
    return ROUTES[environ["PATH_INFO"]](environ, start_response)
