"""One serving process: gevent StreamServers on the listening sockets, a connection cap, signal
handling and graceful stop. Used directly by `greenh2` (one process), by each pre-forked worker
(`greenh2.server.prefork`), and, through `ConnectionHandler`, by the gunicorn worker.
"""
from __future__ import annotations

import logging
import random
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from gevent.pool import Group, Pool
from gevent.server import StreamServer

from greenh2 import observe
from greenh2.config import Config
from greenh2.observe import STATE
from greenh2.server import gctune
from greenh2.server.connection import ConnectionHandler
from greenh2.wsgi.dispatch import Dispatcher

log = logging.getLogger("greenh2")
# seconds between looks for a connection to shed while accepting pauses at the cap: a slow
# reader becomes sheddable LAG_MIN after its wait began, not on a freed slot, so this is how
# late a waiting client can be admitted after a victim appears (a scan of the pool per look)
RECHECK_INTERVAL = 0.1


def build_handler(config: Config, app: Callable[..., Any], **hooks: Any) -> ConnectionHandler:
    """The app, access log and TLS context wrapped into the per-connection entry point."""
    from greenh2.ops.logs import access_log
    access = access_log(config)
    dispatcher = Dispatcher(app, config, access, **hooks)
    ssl_context = None
    if config.tls_enabled:
        from greenh2.server.tls import make_context
        ssl_context = make_context(config, config.certfile, config.keyfile)
    return ConnectionHandler(config, dispatcher, ssl_context)


def as_gevent_socket(sock: socket.socket) -> socket.socket:
    """Listening sockets bound before monkey-patching (in a pre-fork master) become gevent's."""
    from gevent import socket as gsocket
    if isinstance(sock, gsocket.socket):
        return sock
    return gsocket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())


class _ConnectionPool(Pool):
    """gevent's Pool of connection greenlets (worker_connections), reporting each time a
    connection fills it. When full, it is not full while the handler has a connection it
    would shed (`ConnectionHandler.find_victim`): the accept loop keeps accepting, and
    `spawn` sheds that connection (which stops counting at once) to admit the new one."""

    def __init__(self, size: int, handler: ConnectionHandler) -> None:
        super().__init__(size)
        self.handler = handler
        self.servers: list[StreamServer] = []  # to wake when a connection becomes sheddable
        self._victim: Any = None  # found by full(), shed by the spawn() that follows
        self._recheck: Any = None

    def full(self) -> bool:
        if not super().full():
            return False
        self._victim = self.handler.find_victim()
        if self._victim is None and self.handler.config.shed_connections and self._recheck is None:
            # accepting pauses; a busy connection may go idle or slow before any ends
            self._recheck = gevent.spawn_later(RECHECK_INTERVAL, self._accept_again)
        return self._victim is None

    def _accept_again(self) -> None:
        self._recheck = None
        if self.handler.stopping:
            return
        for server in self.servers:
            server._start_accepting_if_started()  # calls full() again before each accept

    def spawn(self, *args: Any, **kwargs: Any) -> Any:
        if super().full():
            victim, self._victim = self._victim, None
            shed = self.handler.make_room(victim)
            if shed is not None and shed in self.greenlets:
                self.discard(shed)
            if super().full():  # nothing to shed after all: never block the accepting hub
                observe.OBSERVER.limit_tripped("worker_connections")
                return gevent.spawn(*args, **kwargs)
        greenlet = super().spawn(*args, **kwargs)
        if super().full():
            observe.OBSERVER.limit_tripped("worker_connections")
        return greenlet


class Server:
    def __init__(self, config: Config, handler: ConnectionHandler, listeners: list[socket.socket]) -> None:
        self.config = config
        self.handler = handler
        self.pool = _ConnectionPool(config.worker_connections, handler)  # full: shed or pause
        self.servers = [StreamServer(as_gevent_socket(s), handler.handle, spawn=self.pool)
                        for s in listeners]
        self.pool.servers = self.servers
        self.stopping = Event()
        self._hurry = Event()  # cuts drain_delay short
        self.skip_drain_delay = False  # SIGQUIT, max_requests: others keep serving, no LB to tell
        self.on_draining: Callable[[], Any] | None = None  # e.g. sd_notify STOPPING=1
        self.on_hup: Callable[[], None] | None = None  # set by server.operations (reload)
        self.stop_requested = False  # a stop, as opposed to a reload's drain
        self._install_max_requests()

    def _install_max_requests(self) -> None:
        limit = self.config.max_requests
        if not limit:
            return
        limit += random.randint(0, self.config.max_requests_jitter)

        def on_request(count: int) -> None:
            if count >= limit and not self.stopping.is_set():
                log.info("max_requests (%d) reached: restarting worker", limit)
                self.skip_drain_delay = True
                self.stopping.set()
        self.handler.dispatcher.on_request = on_request

    def start(self, install_signals: bool = True) -> None:
        """Signal handlers first, then accepting: a stop signal is graceful from the start.
        The gunicorn worker passes False: gunicorn's signals are its own."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                gevent.signal_handler(sig, self._signal_stop)
            gevent.signal_handler(signal.SIGQUIT, self._quick_stop)
            gevent.signal_handler(signal.SIGHUP, self._hup)
            from greenh2.ops.logs import reopen
            gevent.signal_handler(signal.SIGUSR1, reopen)  # logrotate
        for server in self.servers:
            server.start()

    def _signal_stop(self) -> None:
        """SIGTERM/SIGINT: graceful stop; a second one during drain_delay skips the rest of it."""
        if self.stopping.is_set():
            self._hurry.set()
        self.request_stop()

    def _quick_stop(self) -> None:
        """SIGQUIT: a graceful stop that skips drain_delay (the pre-fork master retires old
        workers this way on reload, while fresh workers already accept on the same sockets)."""
        self.skip_drain_delay = True
        self._hurry.set()
        self.request_stop()

    def request_stop(self) -> None:
        """A stop asked for (signal, control socket), as opposed to a reload's drain."""
        self.stop_requested = True
        self.stopping.set()

    def _hup(self) -> None:
        if self.on_hup is not None:
            self.on_hup()
        else:
            log.info("SIGHUP ignored (no reload in programmatic use)")

    def serve_forever(self, on_ready: Callable[[], None] | None = None,
                      install_signals: bool = True) -> None:
        """Accept until `stopping` is set (signal, max_requests, or a caller), then stop gracefully."""
        gctune.tune(self.config.gc_threshold)  # the app is loaded: its objects are start-up's
        self.start(install_signals)
        if on_ready is not None:
            on_ready()
        self.stopping.wait()
        self.graceful_stop()

    def graceful_stop(self, timeout: float | None = None) -> None:
        """Stop accepting, GOAWAY everyone, wait for in-flight requests, then force-close."""
        timeout = self.config.graceful_timeout if timeout is None else timeout
        log.info("graceful stop: %d connections open, up to %.0fs for requests in flight",
                 len(self.pool), timeout)
        STATE.start_draining()  # from here the health path answers 503
        if self.on_draining is not None:
            self.on_draining()
        self._drain_delay()
        late = Group()
        for server in self.servers:
            server.stop_accepting()
            _accept_queued(server, self.handler, late)
            server.close()
        self.handler.shutdown()
        deadline = time.monotonic() + timeout
        late.join(timeout=timeout)
        if not self.pool.join(timeout=max(0.0, deadline - time.monotonic())):
            log.warning("graceful timeout (%.0fs): closing %d connections", timeout, len(self.pool))
            self.pool.kill(timeout=2)
        late.kill(timeout=2)

    def _drain_delay(self) -> None:
        """drain_delay: keep accepting and serving while health checks see 503, so a balancer
        that polls the serving port marks us down before the listeners close (deploy/README.md)."""
        delay = self.config.drain_delay
        if delay <= 0 or self.skip_drain_delay:
            return
        log.info("draining: health checks answer 503; closing listeners in %.1fs", delay)
        self._hurry.wait(delay)


def _accept_queued(server: StreamServer, handler: ConnectionHandler, late: Group) -> None:
    """Serve what already sits in the listening socket's accept queue before closing it: when
    the last descriptor of a listener closes, Linux resets every queued connection
    (inet_csk_listen_stop), and a balancer has usually sent its request on it already, so a
    strict retry-on conn-failure loses it (issue 16's 19 lost of 97k around backend stops).
    Outside the connection cap: these were admitted by the kernel, not by us."""
    if server.socket is None:
        return
    server.socket.setblocking(False)
    while True:
        try:
            accepted = server.do_read()  # gevent's accept: None once the queue is empty
        except OSError:
            return
        if accepted is None:
            return
        late.spawn(handler.handle, *accepted)


def serve(app: Callable[..., Any], **options: Any) -> None:
    """Programmatic use: `greenh2.serve(app, bind=("127.0.0.1:8000",), certfile=...)`.
    Serves in this process until SIGTERM/SIGINT; the caller does any monkey-patching."""
    from greenh2.server.binds import open_listener, parse_bind
    if isinstance(options.get("bind"), str):
        options["bind"] = (options["bind"],)
    config = Config(**options)
    listeners = [open_listener(parse_bind(b)) for b in config.bind]
    server = Server(config, build_handler(config, app), listeners)
    server.serve_forever()
