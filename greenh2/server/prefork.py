"""`--workers N`: a small pre-fork master. It binds the sockets, forks N workers that share them,
restarts a worker that dies, replaces all workers on SIGHUP without dropping requests (the new
set must report ready before the old set drains; if the new set cannot start, e.g. the edited
app no longer imports or the new certificate is broken, the old set keeps serving), and on
SIGTERM/SIGINT stops them gracefully. It forwards SIGUSR1 (reopen log files) to the workers and
owns the PID file, the control socket (`greenh2.server.mastercontrol`) and, with
--metrics-bind, the ops listener. Its serving state (`greenh2.observe.STATE`, read by /readyz) is
draining until the first workers serve, and from SIGTERM/SIGHUP until the new set serves.

The master never imports gevent or the application: each worker monkey-patches and imports the
app after the fork, so nothing gevent-specific crosses `fork()`, and every reload loads the app
code and certificates now on disk. Nor does it start threads: a thread alive at `fork()` may
hold a lock (logging, an allocator, stdio) that the child then waits for forever (Python 3.12
warns about it). The control socket and the ops listener are served from the master's one loop,
which waits in `select()` on them and on the workers' ready pipe; every fork is checked
(`_threads()`, logged at debug level, a warning if the master is not single-threaded).
"""
from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from greenh2 import observe
from greenh2.config import Config
from greenh2.observe import STATE
from greenh2.ops import scoreboard, systemd
from greenh2.server.mastercontrol import MasterOps

log = logging.getLogger("greenh2")
BOOT_ERROR = 3  # a worker that cannot load the app exits with this; the master gives up
READY_TIMEOUT = 60.0
_STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class Polled(Protocol):
    """A service the master's loop serves: it selects on `sockets()`, calls `readable()`."""

    def sockets(self) -> list[socket.socket]: ...
    def readable(self, sock: socket.socket) -> None: ...


class Master:
    def __init__(self, config: Config, listeners: list[socket.socket],
                 worker_main: Callable[[list[socket.socket]], int], urls: list[str] | None = None,
                 services: Sequence[Polled] = ()) -> None:
        self.config = config
        self.listeners = listeners
        self.worker_main = worker_main
        self.urls = urls or []
        self.target = config.workers  # changed by `greenh2ctl workers +N|-N`
        self.workers: dict[int, float] = {}  # pid -> start time
        self.retiring: dict[int, float] = {}  # pid -> SIGTERM time (SIGHUP replacement)
        self.slots: dict[int, int] = {}  # pid -> scoreboard slot
        self.ready: set[int] = set()
        self.failed: set[int] = set()  # pids that exited with BOOT_ERROR
        self.board = scoreboard.Scoreboard(1024)
        self.ready_r, self.ready_w = os.pipe()
        os.set_blocking(self.ready_r, False)
        self.signal: int | None = None
        self.exit_code = 0
        self.started = time.time()
        self.reloads = 0
        self.serving = False  # the first workers reported ready (/readyz)
        self.stopping = False
        self.ops = MasterOps(self)
        self.services: list[Polled] = [*services, self.ops]

    def run(self) -> int:
        for handled in (*_STOP, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(handled, self._on_signal)
        STATE.start_draining()  # not ready before the first workers serve
        self._spawn_missing()
        systemd.ready(f"serving with {self.config.workers} workers")
        self.ops.start()
        try:
            return self._loop()
        finally:
            self.ops.finish()

    def _wait(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds, serving the control socket and the ops listener and
        reading the ready pipe as they become readable (a signal ends the wait early)."""
        owners: dict[socket.socket, Polled] = {}
        for service in self.services:
            for sock in service.sockets():
                owners[sock] = service
        waited: list[int | socket.socket] = [self.ready_r, *owners]
        try:
            readable, _, _ = select.select(waited, [], [], timeout)
        except (OSError, ValueError):  # a socket closed under us: serve the rest next turn
            return
        for ready in readable:
            if isinstance(ready, socket.socket):
                owners[ready].readable(ready)
            else:
                self._read_ready()

    def _loop(self) -> int:
        while True:
            self._reap()
            self._read_ready()
            if not self.serving and self.workers and set(self.workers) <= self.ready:
                self.serving = True
                STATE.ready_again()
            sig, self.signal = self.signal, None
            if sig in _STOP or self.exit_code:
                self._stop_all()
                return self.exit_code
            if sig == signal.SIGUSR1:
                self._reopen_logs()
            if sig == signal.SIGHUP:
                self._reload()
                if self.signal == signal.SIGHUP:  # more HUPs while reloading (--reload: one
                    self.signal = None            # per worker): the fresh set is the reload
            self._spawn_missing()
            self._retire_extra()
            self._wait(0.1)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.signal not in _STOP:  # a stop request is never overwritten
            self.signal = signum

    def _reopen_logs(self) -> None:
        """SIGUSR1 (logrotate): reopen the master's log files, then each worker's."""
        from greenh2.ops.logs import reopen
        reopen()
        for pid in list(self.workers) + list(self.retiring):
            self._kill(pid, signal.SIGUSR1)

    def _spawn_missing(self) -> None:
        while len(self.workers) < self.target:
            self._spawn()

    def _retire_extra(self) -> None:
        for pid in sorted(self.workers, key=self.workers.__getitem__)[self.target:]:
            self._retire(pid)

    def _retire(self, pid: int) -> None:
        """SIGQUIT: graceful without drain_delay (the other workers keep accepting)."""
        self.workers.pop(pid, None)
        self._kill(pid, signal.SIGQUIT)
        self.retiring[pid] = time.monotonic()

    def _spawn(self) -> int:
        slot = self.board.free_slot(set(self.slots.values()))
        threads = _threads()
        log.debug("forking a worker: %d thread(s) in the master", threads)
        if threads != 1:
            log.warning("forking a worker while the master runs %d threads (%s): the worker may "
                        "deadlock", threads, ", ".join(t.name for t in threading.enumerate()))
        pid = os.fork()
        if pid == 0:
            self._child(slot)
        self.workers[pid] = time.monotonic()
        self.slots[pid] = slot
        log.info("booted worker %d", pid)
        return pid

    def _child(self, slot: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        # retired on a reload before it served: exit quietly, not SIGQUIT's core dump
        signal.signal(signal.SIGQUIT, _exit_quietly)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the worker's own handler (TLS swap)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until the worker's own (log reopen)
        os.close(self.ready_r)
        for service in self.services:  # the master's control and ops sockets are not ours
            for sock in service.sockets():
                sock.close()
        scoreboard.CURRENT = (self.board, slot)
        scoreboard.READY_FD = self.ready_w
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

    def _read_ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            data = os.read(self.ready_r, 4096)
            self.ready.update(int(p) for p in data.split() if p.isdigit())

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            code = os.waitstatus_to_exitcode(status)
            slot = self.slots.pop(pid, None)
            if slot is not None:
                self.board.clear(slot)
            self.ready.discard(pid)
            replaced = False
            if self.workers.pop(pid, None) is not None:
                if code == BOOT_ERROR:
                    self.failed.add(pid)
                    if not self.reloading:
                        log.error("worker %d failed to boot: stopping", pid)
                        self.exit_code = 1
                else:
                    replaced = not self.stopping
                    if code:
                        log.warning("worker %d exited with %s: restarting it", pid, code)
            self.retiring.pop(pid, None)
            observe.OBSERVER.worker_exited(pid, replaced)

    reloading = False

    def _reload(self) -> None:
        """SIGHUP: start a fresh set of workers; once all report ready, the old set drains.
        If the fresh set cannot start, it is stopped and the old set keeps serving."""
        log.info("SIGHUP: replacing %d workers", len(self.workers))
        systemd.reloading(f"reloading: replacing {len(self.workers)} workers")
        STATE.start_draining()  # /readyz: 503 until the new set serves
        from greenh2.ops.logs import reopen
        reopen()  # the master's own log files (the new workers open theirs)
        old = dict(self.workers)
        self.workers.clear()
        self.reloading = True
        self.failed.clear()
        try:
            fresh = {self._spawn() for _ in range(self.target)}
            ok = self._wait_ready(fresh)
        finally:
            self.reloading = False
        if ok:
            self.reloads += 1
            for pid in old:  # SIGQUIT: graceful, without drain_delay (the new set already accepts)
                self._kill(pid, signal.SIGQUIT)
                self.retiring[pid] = time.monotonic()
        else:
            log.error("reload failed: the new workers did not start; the old ones keep serving")
            for pid in fresh:
                if pid in self.workers:
                    self._retire(pid)
            self.workers.update(old)
        if self.signal not in _STOP:
            STATE.ready_again()  # the new set, or the old one after a failed reload, serves
        systemd.ready(f"serving with {len(self.workers)} workers"
                      f"{' (reloaded)' if ok else ' (reload failed)'}")

    def _wait_ready(self, fresh: set[int]) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and self.signal not in _STOP:
            self._reap()
            self._read_ready()
            if fresh & self.failed or not fresh <= set(self.workers):
                return False
            if fresh <= self.ready:
                return True
            self._wait(0.05)
        return False

    def _stop_all(self) -> None:
        STATE.start_draining()
        self.stopping = True
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
            self._wait(0.05)
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


def _threads() -> int:
    """Threads in this process: the kernel's count (any thread, not only Python's), or
    Python's where /proc is missing."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
