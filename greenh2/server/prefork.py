"""`--workers N`: a small pre-fork master. It binds the sockets, forks N workers that share them,
restarts a worker that dies, replaces all workers on SIGHUP without dropping requests (new ones
serve before old ones drain: each worker reports on a pipe once it accepts), forwards SIGUSR1
(reopen log files) to the workers, and on SIGTERM/SIGINT stops them gracefully. Its serving state
(`greenh2.observe.STATE`, read by /readyz) is draining from SIGTERM/SIGHUP until the new
generation serves.

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

from greenh2 import observe
from greenh2.config import Config
from greenh2.observe import STATE
from greenh2.ops import systemd

log = logging.getLogger("greenh2")
BOOT_ERROR = 3  # a worker that cannot load the app exits with this; the master gives up
READY_TIMEOUT = 60.0  # seconds new workers get to report that they serve (SIGHUP, start)
_ready_fd = -1  # in a worker: the write end of the master's ready pipe


def notify_ready() -> None:
    """Called by a worker once it accepts: tells the master (no-op outside a pre-fork worker)."""
    global _ready_fd
    if _ready_fd < 0:
        return
    try:
        os.write(_ready_fd, os.getpid().to_bytes(4, "little"))
    except OSError:
        pass
    os.close(_ready_fd)
    _ready_fd = -1


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
        self.stopping = False
        self.ready: set[int] = set()  # workers that reported they accept
        self.generation: set[int] | None = None  # the workers whose readiness we wait for
        self.generation_deadline = 0.0
        self.outgoing: list[int] = []  # the previous generation: serves until the new one does
        self.reloading = False  # a SIGHUP generation is on its way (sd_notify READY=1 after)
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)

    def run(self) -> int:
        for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
                        signal.SIGUSR1):
            signal.signal(handled, self._on_signal)
        STATE.start_draining()  # not ready before the first generation serves
        self._spawn_missing()
        systemd.ready(f"serving with {self.config.workers} workers")
        self._await_generation()
        while True:
            self._reap()
            self._check_generation()
            sig, self.signal = self.signal, None
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT) or self.exit_code:
                STATE.start_draining()
                self.stopping = True
                self._stop_all()
                return self.exit_code
            if sig == signal.SIGHUP:
                self._reload()
            elif sig == signal.SIGUSR1:
                self._reopen_logs()
            self._spawn_missing()
            time.sleep(0.1)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.signal not in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            self.signal = signum  # a pending stop is never overwritten

    def _reopen_logs(self) -> None:
        """SIGUSR1 (logrotate): reopen the master's log files, then each worker's."""
        from greenh2.ops.logs import reopen
        reopen()
        for pid in list(self.workers) + list(self.retiring) + self.outgoing:
            self._kill(pid, signal.SIGUSR1)

    def _await_generation(self) -> None:
        self.generation = set(self.workers)
        self.generation_deadline = time.monotonic() + READY_TIMEOUT

    def _check_generation(self) -> None:
        """Once every worker of the new generation serves (or READY_TIMEOUT passed): retire
        the previous generation and say ready again."""
        if self.generation is None:
            return
        self._read_ready()
        waiting = (self.generation & set(self.workers)) - self.ready
        if waiting and time.monotonic() < self.generation_deadline:
            return
        for pid in self.outgoing:  # SIGQUIT: graceful, without drain_delay (the new set accepts)
            self._kill(pid, signal.SIGQUIT)
            self.retiring[pid] = time.monotonic()
        self.outgoing = []
        self.generation = None
        if self.reloading:
            self.reloading = False
            systemd.ready(f"serving with {self.config.workers} workers (reloaded)")
        if not self.exit_code:
            STATE.ready_again()

    def _read_ready(self) -> None:
        try:
            data = os.read(self._ready_r, 4096)
        except BlockingIOError:
            return
        for i in range(0, len(data) - 3, 4):
            self.ready.add(int.from_bytes(data[i:i + 4], "little"))

    def _spawn_missing(self) -> None:
        while len(self.workers) < self.config.workers:
            self._spawn()

    def _spawn(self) -> None:
        pid = os.fork()
        if pid == 0:
            global _ready_fd
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            # retired on a reload before it served: exit quietly, not SIGQUIT's core dump
            signal.signal(signal.SIGQUIT, _exit_quietly)
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until the worker installs its own
            os.close(self._ready_r)
            _ready_fd = self._ready_w
            code = 1
            try:
                code = self.worker_main(self.listeners)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker crashed")
            finally:
                observe.OBSERVER.flush()  # counts held back by --metrics-bind (os._exit: no atexit)
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
            replaced = False
            if self.workers.pop(pid, None) is not None:
                if code == BOOT_ERROR:
                    log.error("worker %d failed to boot: stopping", pid)
                    self.exit_code = 1
                else:
                    replaced = not self.stopping
                    if code:
                        log.warning("worker %d exited with %s: restarting it", pid, code)
            self.retiring.pop(pid, None)
            if pid in self.outgoing:
                self.outgoing.remove(pid)
            self.ready.discard(pid)
            observe.OBSERVER.worker_exited(pid, replaced)

    def _reload(self) -> None:
        """SIGHUP: start a fresh set of workers, then let the old set drain."""
        log.info("SIGHUP: replacing %d workers", len(self.workers))
        systemd.reloading(f"reloading: replacing {len(self.workers)} workers")
        STATE.start_draining()
        self.outgoing += list(self.workers)  # they stop once the new workers accept
        self.workers.clear()
        self._spawn_missing()
        self._await_generation()
        self.reloading = True

    def _stop_all(self) -> None:
        systemd.stopping()
        for pid in self.outgoing:
            self.retiring[pid] = time.monotonic()
        self.outgoing = []
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
