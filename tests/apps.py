"""WSGI test applications for the greenh2 integration tests.

``app`` is the entry point (``apps:app`` with tests/ on sys.path). Most routes
go through werkzeug's LintMiddleware; routes that do legitimate things the
linter does not know about (early hints, hop-by-hop headers) are served by the
unwrapped app. Lint warnings are recorded and exposed at /lint-warnings.
"""
import hashlib
import json
import os
import random
import sys
import threading
import time
import warnings
from urllib.parse import parse_qs

from werkzeug.middleware.lint import LintMiddleware

CHUNK = 64 * 1024

# ---------------------------------------------------------------------------
# deterministic download body
_PATTERN = random.Random(0x6772656E).randbytes(CHUNK + 256)


def download_chunks(n):
    """Yield the deterministic body of /download?n=N in <= 64 KiB chunks."""
    i = 0
    remaining = n
    while remaining > 0:
        off = (i * 31) % 251
        size = min(CHUNK, remaining)
        yield _PATTERN[off:off + size]
        remaining -= size
        i += 1


def download_sha256(n):
    h = hashlib.sha256()
    for c in download_chunks(n):
        h.update(c)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# state shared between requests (single-process servers only)
STATE = {}
_state_lock = threading.Lock()
LINT_WARNINGS = []


def _record(key, value):
    with _state_lock:
        STATE.setdefault(key, []).append(value)


_orig_showwarning = warnings.showwarning


def _showwarning(message, category, filename, lineno, file=None, line=None):
    if category.__name__ in ("WSGIWarning", "HTTPWarning"):
        LINT_WARNINGS.append("%s: %s" % (category.__name__, message))
    _orig_showwarning(message, category, filename, lineno, file, line)


_hook_installed = False


def _install_warning_hook():
    # done lazily in the server process only, so importing this module from
    # the test process (for download_chunks) does not touch its warning filters
    global _hook_installed
    if not _hook_installed:
        _hook_installed = True
        warnings.showwarning = _showwarning
        warnings.simplefilter("always")


def _qs(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _text(start_response, body, status="200 OK", ctype="text/plain; charset=utf-8", extra=()):
    if isinstance(body, str):
        body = body.encode("utf-8")
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def _json(start_response, obj, status="200 OK"):
    return _text(start_response, json.dumps(obj, sort_keys=True), status, "application/json")


def _read_all_chunks(environ, size=CHUNK):
    inp = environ["wsgi.input"]
    while True:
        chunk = inp.read(size)
        if not chunk:
            return
        yield chunk


# ---------------------------------------------------------------------------
# routes
def hello(environ, start_response):
    return _text(start_response, "Hello, world!\n")


def sleep(environ, start_response):
    q = _qs(environ)
    s = float(q.get("s", "0.5"))
    t0 = time.monotonic()
    if "note" in q:  # readiness for tests: "the request is inside the app now" (support.wait)
        print("apps: in /sleep %s" % q["note"], file=sys.stderr, flush=True)
    time.sleep(s)
    return _text(start_response, "slept %.3f\n" % (time.monotonic() - t0))


def echo(environ, start_response):
    headers = [("Content-Type", environ.get("CONTENT_TYPE") or "application/octet-stream")]
    start_response("200 OK", headers)

    def gen():
        yield from _read_all_chunks(environ)
    return gen()


def sha256(environ, start_response):
    h = hashlib.sha256()
    n = 0
    for chunk in _read_all_chunks(environ):
        h.update(chunk)
        n += len(chunk)
    return _json(start_response, {"sha256": h.hexdigest(), "bytes": n})


def download(environ, start_response):
    q = _qs(environ)
    n = int(q.get("n", "1048576"))
    headers = [("Content-Type", "application/octet-stream")]
    if q.get("nolen") != "1":
        headers.append(("Content-Length", str(n)))
    start_response("200 OK", headers)
    return download_chunks(n)


def _jsonable(v):
    return isinstance(v, (str, bool, int, float)) or v is None


def environ_view(environ, start_response):
    body = b"".join(_read_all_chunks(environ))
    d = {k: v for k, v in environ.items() if _jsonable(v)}
    d["wsgi.version"] = list(environ.get("wsgi.version", ()))
    d["_body_len"] = len(body)
    d["_has_early_hints"] = callable(environ.get("wsgi.early_hints"))
    return _json(start_response, d)


def error_before(environ, start_response):
    raise RuntimeError("error-before: boom")


def error_after(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"first chunk\n"
        time.sleep(0.05)
        raise RuntimeError("error-after: boom")
    return gen()


class _Tracked:
    """Iterable response that records started/chunk/closed/completed under an id."""

    def __init__(self, key, n, delay, size):
        self.key, self.n, self.delay, self.size = key, n, delay, size

    def __iter__(self):
        _record(self.key, "started")
        for i in range(self.n):
            yield (b"%06d" % i) + b"x" * (self.size - 7) + b"\n"
            _record(self.key, "chunk")
            time.sleep(self.delay)
        _record(self.key, "completed")

    def close(self):
        _record(self.key, "closed")


def slow_stream(environ, start_response):
    q = _qs(environ)
    key = q.get("id", "default")
    n = int(q.get("n", "20"))
    delay = float(q.get("delay", "0.1"))
    size = int(q.get("size", "1024"))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _Tracked(key, n, delay, size)


def stats(environ, start_response):
    key = _qs(environ).get("id")
    with _state_lock:
        data = {k: list(v) for k, v in STATE.items()} if key is None else list(STATE.get(key, []))
    return _json(start_response, data)


def write_route(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"hello ")
    write(b"from ")
    return [b"write()\n"]


def empty(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def head(environ, start_response):
    return _text(start_response, "this body must not be sent for HEAD\n")


def status(environ, start_response):
    code = environ["PATH_INFO"].rsplit("/", 1)[-1]
    reasons = {"204": "No Content", "304": "Not Modified"}
    start_response("%s %s" % (code, reasons.get(code, "Whatever")), [("X-Status", code)])
    return []


def lint_warnings(environ, start_response):
    return _json(start_response, list(LINT_WARNINGS))


def pid(environ, start_response):
    return _text(start_response, str(os.getpid()))


# -- unwrapped (non-lint) routes ---------------------------------------------
def early_hints(environ, start_response):
    hints = environ.get("wsgi.early_hints")
    if hints is None:
        return _text(start_response, "no wsgi.early_hints\n", "500 Internal Server Error")
    hints([("link", "</s.css>; rel=preload")])
    time.sleep(0.05)
    return _text(start_response, "after early hints\n")


def hop(environ, start_response):
    body = b"hop-by-hop\n"
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "identity"),
        ("Upgrade", "websocket"),
        ("Proxy-Connection", "keep-alive"),
        ("X-Kept", "yes"),
    ])
    return [body]


_C_BLOCK = b"\x5a" * (4 << 20)


def c_block(environ, start_response):
    """Block in C code gevent cannot patch: sha256 over ?mb= MiB (hashlib releases the GIL)."""
    h = hashlib.sha256()
    for _ in range(int(_qs(environ).get("mb", "64")) // 4):
        h.update(_C_BLOCK)
    return _text(start_response, h.hexdigest() + "\n")


def not_found(environ, start_response):
    return _text(start_response, "not found: %s\n" % environ.get("PATH_INFO"), "404 Not Found")


ROUTES = {
    "/hello": hello,
    "/sleep": sleep,
    "/echo": echo,
    "/sha256": sha256,
    "/download": download,
    "/error-before": error_before,
    "/error-after": error_after,
    "/slow-stream": slow_stream,
    "/stats": stats,
    "/write": write_route,
    "/empty": empty,
    "/head": head,
    "/lint-warnings": lint_warnings,
    "/pid": pid,
    "/c-block": c_block,
}
UNWRAPPED = {
    "/early-hints": early_hints,
    "/hop": hop,
}


def raw_app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path in ROUTES:
        return ROUTES[path](environ, start_response)
    if path == "/environ" or path.startswith("/environ/"):
        return environ_view(environ, start_response)
    if path.startswith("/status/"):
        return status(environ, start_response)
    return not_found(environ, start_response)


_linted = LintMiddleware(raw_app)


def app(environ, start_response):
    _install_warning_hook()
    path = environ.get("PATH_INFO", "")
    if path in UNWRAPPED:
        return UNWRAPPED[path](environ, start_response)
    return _linted(environ, start_response)


not_callable = 42
