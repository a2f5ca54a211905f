"""From a parsed request to the WSGI app and back, for both protocols and both server faces.

`Dispatcher` is the one place where a request meets the application: it builds the environ,
runs the app (in the stream's greenlet, or in an OS thread pool with `--threads`), writes the
access log line and counts requests for `max_requests`. The standalone server and the gunicorn
worker both hand their connections a Dispatcher; nothing here knows which protocol is in use.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from greenh2 import observe
from greenh2.config import Config
from greenh2.observe import STATE
from greenh2.wsgi.accesslog import AccessLogger
from greenh2.wsgi.environ import ConnInfo, RequestHead, build_environ
from greenh2.wsgi.input_stream import InputStream, is_streaming
from greenh2.wsgi.response import Sink, run_app

log = logging.getLogger("greenh2")
Hook = Callable[..., Any] | None


class Dispatcher:
    def __init__(self, app: Callable[..., Any], config: Config, access_log: AccessLogger | None = None,
                 pre_request: Hook = None, post_request: Hook = None) -> None:
        self.app = app
        self.config = config
        self.access_log = access_log
        self.pre_request = pre_request
        self.post_request = post_request
        self.requests = 0
        self.on_request: Callable[[int], None] | None = None  # max_requests bookkeeping
        self.trusted = _trusted_peers(config.forwarded_allow_ips)
        self.scheme_headers = _scheme_headers(config.secure_scheme_headers)
        self.health_path = config.health_path
        self.max_body_size = config.max_body_size
        self.pool = None
        if config.threads:
            from greenh2.wsgi.threads import ThreadRunner
            self.pool = ThreadRunner(config.threads)

    def __call__(self, head: RequestHead, conn: ConnInfo, pull: Callable[[int], bytes],
                 sink: Sink) -> None:
        """Serve one request. `pull(n)` gives request body bytes (b"" at the end)."""
        hp = self.health_path  # --health-path: answered here, before the app, hooks and logs
        if hp and head.target.startswith(hp) and (len(head.target) == len(hp)
                                                  or head.target[len(hp)] == "?"):
            run_app(_health_app, {"REQUEST_METHOD": head.method, "PATH_INFO": hp}, sink,
                    self.config.server_header)
            return
        started = time.time()
        app = self.app
        if self.max_body_size and _known_length(head) > self.max_body_size:
            observe.OBSERVER.limit_tripped("body_size")  # 413 before the app (README: Limits)
            app = _too_large_app
        # A WebSocket's greenlets and pipe live on the hub: such a request runs in its greenlet.
        job = None
        if self.pool is not None and "wsgi.websocket" not in head.extra:
            job = self.pool.job(pull, sink)  # the thread sees the job's faces; the job calls the real ones
            pull, sink = job.pull, job
        body = InputStream(pull)
        environ = build_environ(head, conn, body)
        body.streaming = is_streaming(environ.get("CONTENT_LENGTH"), environ.get("CONTENT_TYPE", ""))
        if self.scheme_headers and (self.trusted is None or conn.remote_addr in self.trusted):
            _apply_forwarded_scheme(environ, self.scheme_headers)
        if self.pre_request is not None:
            self.pre_request(environ)
        if job is not None and self.pool is not None:
            environ["wsgi.multithread"] = True
            resp = self.pool.run(job, app, environ, self.config.server_header)
        else:
            resp = run_app(app, environ, sink, self.config.server_header)
        self.requests += 1
        duration = time.time() - started
        observe.OBSERVER.request_done(environ["greenh2.protocol"], head.method, resp.status,
                                      duration, body.consumed, resp.bytes_sent)
        if self.post_request is not None:
            self.post_request(environ, resp)
        if self.access_log is not None:
            self.access_log.log(environ, resp, duration)
        if self.on_request is not None:
            self.on_request(self.requests)


def _health_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """200 `ok` while serving; 503 `draining` from the moment a graceful stop starts, so a
    balancer polling the serving port takes this instance out before its listeners close."""
    ready = STATE.ready
    body = b"ok\n" if ready else b"draining\n"
    start_response("200 OK" if ready else "503 Service Unavailable",
                   [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store")])
    return [body]


def _known_length(head: RequestHead) -> int:
    """The body length known before the app runs: Content-Length, or the whole body when it
    arrived with the request (HTTP/2); 0 when still unknown (a streaming body)."""
    if head.body_length is not None:
        return head.body_length
    for name, value in head.headers:
        if name == "content-length":  # digits: checked by both protocols' parsers
            return int(value)
    return 0


def _too_large_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """413 Content Too Large (RFC 9110 §15.5.14) for a body known to be over max_body_size; the
    protocol decides what becomes of the unread body (drained, closed, RST_STREAM(NO_ERROR))."""
    body = b"Content Too Large\n"
    start_response("413 Content Too Large", [("Content-Type", "text/plain"),
                                              ("Content-Length", str(len(body)))])
    return [body]


def _trusted_peers(spec: str) -> frozenset[str] | None:
    """forwarded_allow_ips: None means every peer ('*')."""
    items = {item.strip() for item in spec.split(",") if item.strip()}
    return None if "*" in items else frozenset(items)


def _scheme_headers(pairs: tuple[str, ...]) -> dict[str, str]:
    """'X-FORWARDED-PROTO=https' -> {'HTTP_X_FORWARDED_PROTO': 'https'}."""
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        out["HTTP_" + name.strip().upper().replace("-", "_")] = value.strip().lower()
    return out


def _apply_forwarded_scheme(environ: dict[str, Any], headers: dict[str, str]) -> None:
    """A trusted proxy says whether the client used https (gunicorn's secure_scheme_headers)."""
    for key, secure_value in headers.items():
        value = environ.get(key)
        if value is not None:
            secure = value.strip().lower() == secure_value
            environ["wsgi.url_scheme"] = "https" if secure else "http"
            return
