"""GreenH2Worker: gunicorn's worker lifecycle around greenh2's connection handler.

gunicorn's contract (gunicorn/workers/base.py): `__init__` runs in the master before fork, so
nothing process-wide happens there; `init_process()` runs in the child, where we monkey-patch,
re-init the hub and let gunicorn load the app before `run()`; `notify()` must be called at least
every `timeout` seconds (a separate greenlet does it, so 1,000 long streams never starve it);
SIGTERM/SIGQUIT stop gracefully within `graceful_timeout` (GOAWAY with the last stream id).
"""
from __future__ import annotations

import datetime
import logging
import os
import socket
import sys
from typing import Any

from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker

from gunicorn_worker import metrics

metrics.prepare_arbiter()  # GREENH2_METRICS_BIND: before --preload imports the app, before fork


class _ReqShim:
    """What gunicorn's pre_request/post_request hooks and access log read off a request."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.method = environ["REQUEST_METHOD"]
        self.uri = environ.get("RAW_URI", "")
        self.path = environ.get("PATH_INFO", "")
        self.query = environ.get("QUERY_STRING", "")
        self.version = (2, 0) if environ["SERVER_PROTOCOL"] == "HTTP/2.0" else (1, 1)
        self.headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items()
                        if k.startswith("HTTP_") and isinstance(v, str)]


class _RespShim:
    def __init__(self, resp: Any) -> None:
        self.status = f"{resp.status} {resp.reason}".strip()
        self.status_code = resp.status
        self.headers = resp.headers or []
        self.sent = resp.bytes_sent
        self.response_length = resp.bytes_sent


class _GunicornAccessLog:
    """greenh2's access-log interface on top of gunicorn's logger (its atoms and targets)."""

    def __init__(self, glog: Any) -> None:
        self.glog = glog

    def log(self, environ: dict[str, Any], resp: Any, duration: float) -> None:
        self.glog.access(_RespShim(resp), _ReqShim(environ), environ,
                         datetime.timedelta(seconds=duration))


def _patch_arbiter_for_preload() -> None:
    """With `--preload` the app is imported in the arbiter, before any worker patches: a Django
    or psycopg app would keep real threading locks and blocking sockets made at import (gunicorn
    #1566, #927: why gunicorn discourages preload with its gevent worker). So patch the arbiter
    first, the fix gunicorn users apply by hand in gunicorn.conf.py; workers inherit the patched
    modules and re-init the hub after fork. Skipped with GREENH2_MONKEY_PATCH=0."""
    from greenh2.config import from_environ
    from greenh2.ops.ioloop import select_loop
    settings = from_environ(os.environ)
    if not settings.get("monkey_patch", True):
        return
    select_loop(settings.get("io_backend", "auto"))  # before patched modules make the hub
    from gevent import monkey
    if not monkey.is_module_patched("socket"):
        monkey.patch_all()


def _calling_config() -> Any:
    """The gunicorn Config whose `worker_class` property is loading this class, or None."""
    from gunicorn.config import Config as GunicornConfig
    frame = sys._getframe(2)  # Config.worker_class -> GreenH2Worker.setup -> here
    candidate = frame.f_locals.get("self")
    return candidate if isinstance(candidate, GunicornConfig) else None


class GreenH2Worker(Worker):
    @classmethod
    def setup(cls) -> None:
        """gunicorn calls this in the arbiter whenever it loads the worker class, which it does
        (Arbiter.setup) before `--preload` imports the app."""
        from greenh2.server import gctune
        gctune.remember()  # before --preload imports the app (only gc is imported)
        cfg = _calling_config()
        if cfg is not None and cfg.preload_app:
            _patch_arbiter_for_preload()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        metrics.start_in_arbiter(self.log)  # runs in the arbiter: once, for the first worker

    def init_process(self) -> None:
        from greenh2.config import from_environ
        from greenh2.ops.ioloop import select_loop
        # GREENH2_IO_BACKEND picks gevent's loop before anything creates the hub (gunicorn has
        # no setting of its own for it).
        select_loop(from_environ(os.environ).get("io_backend", "auto"))
        from gevent import hub, monkey
        monkey.patch_all()
        from gevent import socket as gsocket
        self.sockets: list[Any] = [gsocket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach())
                        for s in self.sockets]
        hub.reinit()
        from greenh2.server import gctune
        gctune.remember()  # no-op after the arbiter's (setup); before load_wsgi otherwise
        super().init_process()

    def init_signals(self) -> None:
        super().init_signals()
        import signal

        import gevent
        # Handlers run as greenlets so they may block (gunicorn #1126).
        gevent.signal_handler(signal.SIGTERM, self._stop)
        gevent.signal_handler(signal.SIGQUIT, self._quit)
        gevent.signal_handler(signal.SIGINT, self._quit)

    def _stop(self) -> None:
        self.alive = False
        if self._stopping is not None:
            self._stopping.set()

    def _quit(self) -> None:
        self.cfg.worker_int(self)
        self._stop()

    _stopping: Any = None  # the Server's stop Event, from run() (__init__ runs in the master)

    def notify(self) -> None:
        super().notify()
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            self._stop()

    def run(self) -> None:
        import gevent

        from greenh2.server.process import Server, build_handler
        from gunicorn_worker.settings import config_from_gunicorn

        config, notes = config_from_gunicorn(self.cfg)
        self._route_logging()
        for note in notes:
            self.log.info(note)
        metrics.install_in_worker(config.metrics_bind, self.log)
        handler = build_handler(config, self.wsgi, pre_request=self._pre_request,
                                post_request=self._post_request)
        # As gunicorn's own workers do: every request goes through `self.log.access`, which
        # feeds its access log and, with --statsd-host, its Statsd logger (a Logger subclass).
        if self.log.access_log_enabled or type(self.log).access is not Logger.access:
            handler.dispatcher.access_log = _GunicornAccessLog(self.log)
        handler.dispatcher.on_request = self._count_request
        server = Server(config, handler, self.sockets)
        self._stopping = server.stopping
        if not self.alive:  # a stop signal arrived while the app was loading
            server.stopping.set()
        heartbeat = gevent.spawn(self._heartbeat)
        try:
            server.serve_forever(install_signals=False)  # gunicorn's signals, set in init_signals
        finally:
            heartbeat.kill()

    def _heartbeat(self) -> None:
        import gevent
        interval = max(min(self.timeout / 4.0, 1.0), 0.1) if self.timeout else 1.0
        while True:
            self.notify()
            if not self.alive:  # gunicorn's --reload callback (a thread) only clears `alive`
                self._stop()
            gevent.sleep(interval)

    def _count_request(self, count: int) -> None:
        self.nr = count
        if count >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self._stop()  # graceful_stop closes the listeners at once: no overshoot

    def _pre_request(self, environ: dict[str, Any]) -> None:
        self.cfg.pre_request(self, _ReqShim(environ))

    def _post_request(self, environ: dict[str, Any], resp: Any) -> None:
        self.cfg.post_request(self, _ReqShim(environ), environ, _RespShim(resp))

    def _route_logging(self) -> None:
        """greenh2's own log lines go wherever gunicorn's error log goes."""
        glog = logging.getLogger("greenh2")
        error_log = getattr(self.log, "error_log", None)
        if error_log is not None:
            glog.handlers[:] = list(error_log.handlers) or [logging.StreamHandler(sys.stderr)]
            glog.setLevel(error_log.level)
            glog.propagate = False
