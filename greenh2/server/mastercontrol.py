"""The pre-fork master's operations: PID file, control socket (served from the master's own
loop, without threads: see `greenh2.server.prefork`) and the answers it gives, read from the
workers' scoreboard slots.

Commands act the way signals do, so the master's one loop stays the only place that forks and
reaps: reload sends the master SIGHUP, stop SIGTERM; `workers +N|-N` changes the target count
the loop converges to; `reload tls` sends each worker SIGHUP (an in-place certificate swap).

This module knows the master only through `MasterState`, the fields it reads and the one it
sets (`target`): `prefork` imports this module, never the other way round.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import time
from typing import Any, Protocol

from greenh2._version import __version__
from greenh2.config import FIELDS, Config
from greenh2.ops import counters, pidfile
from greenh2.ops.control import ControlInUse, PolledControlServer, bind_control, resolve_path
from greenh2.ops.scoreboard import Scoreboard

log = logging.getLogger("greenh2")


class MasterState(Protocol):
    """What the control answers read off the pre-fork master (and `target`, which they set)."""

    config: Config
    urls: list[str]
    target: int
    workers: dict[int, float]
    retiring: dict[int, float]
    slots: dict[int, int]
    ready: set[int]
    board: Scoreboard
    started: float
    reloads: int
    reloading: bool


class MasterOps:
    def __init__(self, master: MasterState) -> None:
        self.master = master
        self.control: PolledControlServer | None = None
        self.path = ""

    def start(self) -> None:
        config = self.master.config
        if config.pid:
            pidfile.write_pidfile(config.pid)
        path = resolve_path(config.control_socket)
        if not path:
            return
        try:
            sock = bind_control(path)
        except (ControlInUse, OSError) as exc:
            log.warning("control socket off: %s (choose one with --control-socket)", exc)
            return
        self.path = path
        self.control = PolledControlServer(sock, self)
        log.info("control socket: %s", path)

    def sockets(self) -> list[socket.socket]:
        return self.control.sockets() if self.control is not None else []

    def readable(self, sock: socket.socket) -> None:
        if self.control is not None:
            self.control.readable(sock)

    def finish(self) -> None:
        if self.control is not None:
            self.control.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass
        if self.master.config.pid:
            pidfile.remove_pidfile(self.master.config.pid)

    # --- the control target ----------------------------------------------------------------

    def _worker_rows(self) -> list[dict[str, Any]]:
        m = self.master
        rows = []
        for pid, started in list(m.workers.items()) + list(m.retiring.items()):
            slot = m.slots.get(pid)
            counts = m.board.read(slot) if slot is not None else {}
            rows.append({"pid": pid, "age": round(time.monotonic() - started, 3),
                         "ready": pid in m.ready, "retiring": pid in m.retiring,
                         "connections": counts.get("connections", 0),
                         "streams": counts.get("streams", 0),
                         "requests": counts.get("requests", 0)})
        return rows

    def status(self) -> dict[str, Any]:
        m = self.master
        rows = self._worker_rows()
        return {"pid": os.getpid(), "mode": "workers", "version": __version__,
                "uptime": round(time.time() - m.started, 3), "listeners": m.urls,
                "connections": sum(r["connections"] for r in rows),
                "streams": sum(r["streams"] for r in rows),
                "requests": sum(r["requests"] for r in rows),
                "workers": rows, "target_workers": m.target, "reloads": m.reloads,
                "reloading": m.reloading}

    def stats(self) -> dict[str, Any]:
        rows = self._worker_rows()
        live = {k: sum(r[k] for r in rows) for k in ("connections", "streams", "requests")}
        return {"live": {**live, "workers": len(self.master.workers)},
                "metrics": counters.registry_samples()}

    def reload(self, what: str) -> dict[str, Any]:
        if what == "tls":
            ready = [pid for pid in list(self.master.workers) if pid in self.master.ready]
            for pid in ready:  # a worker still booting reads the files now on disk anyway
                os.kill(pid, signal.SIGHUP)
            return {"tls": True, "workers": len(ready)}
        os.kill(os.getpid(), signal.SIGHUP)
        return {"reloading": True, "pid": os.getpid()}

    def reopen(self) -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGUSR1)  # the master loop reopens its logs and forwards it
        return {"reopened": True}

    def stop(self) -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGTERM)
        return {"stopping": True, "pid": os.getpid()}

    def workers(self, delta: int) -> dict[str, Any]:
        low, high = FIELDS["workers"].metadata["bounds"]
        target = self.master.target + delta
        if not low <= target <= high:
            raise ValueError(f"workers: {target} is out of range {low:g}..{high:g}")
        self.master.target = target
        return {"target_workers": target}
