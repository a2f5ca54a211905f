"""The operations listener (`--metrics-bind HOST:PORT`): `/metrics` (Prometheus text format,
rendered by prometheus_client), `/healthz` and `/readyz`.

It runs where the process's view of the service lives: in the pre-fork master with `--workers`
(so it keeps answering while workers restart, and `/readyz` is the master's view of a reload or
stop), in the serving process itself otherwise. It is a small threaded WSGI server from the
standard library on its own port, separate from the serving listeners and their limits; in a
monkey-patched process its threads are greenlets. In the master it has no threads: the master's
loop selects on `sockets()` and calls `readable()` (a thread alive at `fork()` can deadlock the
child); a request is answered once its head has arrived, without blocking on the client.

/healthz  200 `ok` while the process is up (liveness).
/readyz   200 `ready` while accepting; 503 `draining` from the moment a graceful stop or reload
          starts (with --workers: from SIGTERM/SIGHUP until the new workers serve).
"""
from __future__ import annotations

import contextlib
import io
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from greenh2.addresses import parse_bind
from greenh2.errors import ConfigError
from greenh2.observe import STATE

StartResponse = Callable[..., Any]
MAX_HEAD = 16384
HEAD_TIMEOUT = 10.0  # polled mode: seconds a client has to send its request head


def ops_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/healthz":
        return _text(start_response, "200 OK", "ok\n")
    if path == "/readyz":
        if STATE.ready:
            return _text(start_response, "200 OK", "ready\n")
        return _text(start_response, "503 Service Unavailable", "draining\n")
    if path in ("/metrics", "/"):
        from prometheus_client import make_wsgi_app

        from greenh2.ops.metrics import collect_registry
        result: Iterable[bytes] = make_wsgi_app(collect_registry())(environ, start_response)
        return result
    return _text(start_response, "404 Not Found", "not found: /metrics, /healthz, /readyz\n")


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(data))), ("Cache-Control", "no-store")])
    return [data]


class _QuietHandler(WSGIRequestHandler):
    timeout = 10  # a scraper that stalls does not hold a handler thread for ever

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth an access log line."""


class _PolledHandler(_QuietHandler):
    timeout = 2  # in the master's loop: writing the answer must not hold the loop up long


class _HeadRead:
    """A client connection whose request head the master's loop has read already: the handler
    reads the head from memory and writes to the socket."""

    def __init__(self, conn: socket.socket, head: bytes) -> None:
        self.conn, self.head = conn, head

    def settimeout(self, timeout: float | None) -> None:
        self.conn.settimeout(timeout)

    def makefile(self, mode: str, *args: Any) -> Any:
        return io.BytesIO(self.head) if "r" in mode else self.conn.makefile("wb", *args)

    def sendall(self, data: bytes) -> None:
        self.conn.sendall(data)


class _Server(WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's would getfqdn() (DNS) here
        self.server_name, self.server_port = "greenh2", self.server_address[1]
        self.setup_environ()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-scrape is not an error of ours


class OpsListener:
    """The listening socket is bound by `bind()` (a port in use fails at start, one line);
    `start()` serves it from a daemon thread until the process exits."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None
        self.pending: dict[socket.socket, tuple[bytearray, float]] = {}  # polled mode
        self._owner = os.getpid()

    def bind(self) -> "OpsListener":
        addr = parse_bind(self.address)
        if addr.path or addr.fd >= 0:
            raise ConfigError(f"metrics_bind {self.address!r}: use HOST:PORT")

        class Server(_Server):
            address_family = addr.family
        try:
            self.server = Server((addr.host, addr.port), _QuietHandler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.address} for metrics: "
                              f"{exc.strerror or exc}") from None
        self.server.set_app(ops_app)
        # Forked workers must not keep the master's metrics socket open.
        os.register_at_fork(after_in_child=self._close_in_child)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    # --- served from the pre-fork master's loop: no threads there (see greenh2.server.prefork)

    def sockets(self) -> list[socket.socket]:
        """What the master's loop selects on: the listener and the clients whose request head
        is still arriving (dropped after HEAD_TIMEOUT)."""
        if self.server is None:
            return []
        now = time.monotonic()
        for conn, (_, since) in list(self.pending.items()):
            if now - since > HEAD_TIMEOUT:
                self._drop(conn)
        return [self.server.socket, *self.pending]

    def readable(self, sock: socket.socket) -> None:
        assert self.server is not None
        if sock is self.server.socket:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                conn.setblocking(False)
                self.pending[conn] = (bytearray(), time.monotonic())
            return
        buf, _ = self.pending[sock]
        try:
            data = sock.recv(MAX_HEAD)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buf += data
        if not data or len(buf) > MAX_HEAD:
            self._drop(sock)
        elif b"\r\n\r\n" in buf:  # the whole head is here: answer now, bounded by the timeout
            del self.pending[sock]
            try:
                request: Any = _HeadRead(sock, bytes(buf))
                _PolledHandler(request, sock.getpeername(), self.server)
            except Exception:
                pass  # a client that went away mid-answer is not an error of ours
            finally:
                self.server.shutdown_request(sock)

    def _drop(self, conn: socket.socket) -> None:
        self.pending.pop(conn, None)
        conn.close()

    def start(self) -> None:
        assert self.server is not None
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.5,),
                                       name="greenh2-metrics", daemon=True)
        self.thread.start()

    def _close_in_child(self) -> None:
        if self.server is not None and os.getpid() != self._owner:
            for conn in list(self.pending):
                self._drop(conn)
            try:
                self.server.socket.close()
            except OSError:
                pass
            self.server = None


def start_listener(address: str, polled: bool = False) -> OpsListener:
    """Bind and serve from a thread, or (`polled`, the pre-fork master) leave the serving to
    the caller's loop through `sockets()` / `readable()`."""
    listener = OpsListener(address).bind()
    if not polled:
        listener.start()
    return listener


def url(listener: OpsListener) -> str:
    host = parse_bind(listener.address).host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{listener.port}/metrics"


__all__ = ["OpsListener", "ops_app", "start_listener", "url"]
