"""The WSGI applications every benchmarked server runs.

Why this module exists: a comparison is only fair if every server executes exactly the same
Python code per request, so the apps live here and each server is started with
``benchmarks.apps:<name>``. They are deliberately tiny and allocation-free on the hot path
(the download body is preallocated once at import) so the measurements show server overhead,
not application work.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qs

StartResponse = Callable[..., object]
Environ = dict

HELLO = b"Hello, world!"
DOWNLOAD_BYTES = int(os.environ.get("BENCH_DOWNLOAD_BYTES", str(1 << 20)))
PAYLOAD = b"x" * DOWNLOAD_BYTES  # preallocated once, served as-is by `download`

# One SSE event is exactly SSE_EVENT_LEN bytes so the client can count events by byte count.
SSE_EVENT_LEN = 16
SSE_INTERVAL = float(os.environ.get("BENCH_SSE_INTERVAL", "0.1"))
SSE_COUNT = int(os.environ.get("BENCH_SSE_COUNT", "50"))  # 50 x 100 ms = 5 s

_TEXT = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Return b"Hello, world!": the pure per-request server overhead."""
    start_response("200 OK", list(_TEXT))
    return [HELLO]


def sleep50(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Block 50 ms (time.sleep, cooperative under gevent) and then answer like `hello`."""
    time.sleep(0.05)
    return hello(environ, start_response)


def _query_int(environ: Environ, name: str, default: int) -> int:
    qs = environ.get("QUERY_STRING") or ""
    if not qs:
        return default
    values = parse_qs(qs).get(name)
    return int(values[0]) if values else default


def download(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Serve DOWNLOAD_BYTES (1 MiB) from the preallocated PAYLOAD; `?n=` asks for another size."""
    n = _query_int(environ, "n", DOWNLOAD_BYTES)
    body = PAYLOAD if n == DOWNLOAD_BYTES else (PAYLOAD[:n] if n < DOWNLOAD_BYTES else b"x" * n)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _read_body(environ: Environ) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.strip():
        return stream.read()
    remaining = int(length)
    parts = []
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 18))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def upload(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Read wsgi.input to the end and echo it back."""
    body = _read_body(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _events(count: int, interval: float) -> Iterator[bytes]:
    for i in range(count):
        if i:
            time.sleep(interval)
        yield b"data: %08d\n\n" % i  # 16 bytes == SSE_EVENT_LEN


def sse(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Server-sent events: a 16-byte event every 100 ms, 50 of them (5 s); ?count=&ms= override."""
    count = _query_int(environ, "count", SSE_COUNT)
    interval = _query_int(environ, "ms", int(SSE_INTERVAL * 1000)) / 1000.0
    start_response("200 OK", [("Content-Type", "text/event-stream"),
                              ("Cache-Control", "no-cache")])
    return _events(count, interval)


def sse_burst(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Issue 18's start-up burst: 3 SSE events 1 s apart (ideal stream time 2.0 s)."""
    start_response("200 OK", [("Content-Type", "text/event-stream"),
                              ("Cache-Control", "no-cache")])
    return _events(3, 1.0)


_HASH_INPUT = b"\x5a" * (8 << 20)


def hashwork(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Block in C code gevent cannot patch: sha256 over 8 MiB (hashlib releases the GIL, so
    OS threads can hash in parallel while the event loop keeps serving)."""
    digest = hashlib.sha256(_HASH_INPUT).hexdigest().encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(digest)))])
    return [digest]


DJANGO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "django")
_django: list = []
_django_lock = threading.Lock()


def django_dbwait(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """examples/django's `GET /api/db-wait?s=0.05` (50 ms in PostgreSQL through Django's ORM
    connection and its psycopg pool) for every request. Django is imported at the first request,
    in the serving process after the server set itself up (gevent's monkey-patching included), and
    its settings come from the environment benchmarks/django_db.py exports."""
    if not _django:
        with _django_lock:
            if not _django:
                sys.path.insert(0, DJANGO_DIR)
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenh2_site.settings")
                from django.core.wsgi import get_wsgi_application
                _django.append(get_wsgi_application())
    environ["PATH_INFO"], environ["QUERY_STRING"] = "/api/db-wait", "s=0.05"
    return _django[0](environ, start_response)


APPS = {"django_dbwait": django_dbwait, "hashwork": hashwork, "hello": hello, "sleep50": sleep50, "download": download, "upload": upload, "sse": sse, "sse_burst": sse_burst}
