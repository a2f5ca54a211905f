"""`--workers N`: a small pre-fork master. It binds the sockets, forks N workers that share them,
restarts a worker that dies, replaces all workers on SIGHUP without dropping requests (new ones
start before old ones drain), and on SIGTERM/SIGINT stops them gracefully.

The master never imports gevent or the application: each worker monkey-patches and imports the
app after the fork, so nothing gevent-specific crosses `fork()`.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

from greenh2.config import Config
from greenh2.ops import systemd

log = logging.getLogger("greenh2")
BOOT_ERROR = 3  # a worker that cannot load the app exits with this; the master gives up


class Master:
    def __init__(self, config: Config, listeners: list[socket.socket],
                 worker_main: Callable[[list[socket.socket]], int]) -> None:
        self.config = config
        self.listeners = listeners
        self.worker_main = worker_main
        self.workers: dict[int, float] = {}  # pid -> start time
        self.retiring: dict[int, float] = {}  # pid -> SIGTERM time (SIGHUP replacement)
        self.signal: int | None = None
        self.exit_code = 0

    def run(self) -> int:
        for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(handled, self._on_signal)
        self._spawn_missing()
        systemd.ready(f"serving with {self.config.workers} workers")
        while True:
            self._reap()
            sig, self.signal = self.signal, None
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT) or self.exit_code:
                self._stop_all()
                return self.exit_code
            if sig == signal.SIGHUP:
                self._reload()
            self._spawn_missing()
            time.sleep(0.1)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.signal = signum

    def _spawn_missing(self) -> None:
        while len(self.workers) < self.config.workers:
            self._spawn()

    def _spawn(self) -> None:
        pid = os.fork()
        if pid == 0:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            # retired on a reload before it served: exit quietly, not SIGQUIT's core dump
            signal.signal(signal.SIGQUIT, _exit_quietly)
            code = 1
            try:
                code = self.worker_main(self.listeners)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker crashed")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.workers[pid] = time.monotonic()
        log.info("booted worker %d", pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            code = os.waitstatus_to_exitcode(status)
            if self.workers.pop(pid, None) is not None:
                if code == BOOT_ERROR:
                    log.error("worker %d failed to boot: stopping", pid)
                    self.exit_code = 1
                elif code:
                    log.warning("worker %d exited with %s: restarting it", pid, code)
            self.retiring.pop(pid, None)

    def _reload(self) -> None:
        """SIGHUP: start a fresh set of workers, then let the old set drain."""
        log.info("SIGHUP: replacing %d workers", len(self.workers))
        systemd.reloading(f"reloading: replacing {len(self.workers)} workers")
        old = dict(self.workers)
        self.workers.clear()
        self._spawn_missing()
        time.sleep(0.5)  # let the new workers start accepting before the old ones stop
        for pid in old:  # SIGQUIT: graceful, without drain_delay (the new set already accepts)
            self._kill(pid, signal.SIGQUIT)
            self.retiring[pid] = time.monotonic()
        systemd.ready(f"serving with {self.config.workers} workers (reloaded)")

    def _stop_all(self) -> None:
        systemd.stopping()
        everyone = list(self.workers) + list(self.retiring)
        for pid in everyone:
            self._kill(pid, signal.SIGTERM)
        for sock in self.listeners:
            sock.close()
        deadline = time.monotonic() + self.config.drain_delay + self.config.graceful_timeout + 5
        while (self.workers or self.retiring) and time.monotonic() < deadline:
            self._reap()
            self.workers = {p: t for p, t in self.workers.items() if _alive(p)}
            time.sleep(0.05)
        for pid in list(self.workers) + list(self.retiring):
            self._kill(pid, signal.SIGKILL)

    @staticmethod
    def _kill(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
