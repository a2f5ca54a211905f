"""Operations of one serving process: the control socket's answers, reload, PID file, the
`--reload` watcher and, inside a pre-fork worker, its scoreboard slot.

Roles: ``single`` (the whole server is this process: SIGHUP reloads certificates, logs and app
code, the last through `handover`), ``helper`` (the temporary process that serves during such a
reload: no PID file, no control socket, no reloads of its own) and ``worker`` (a pre-fork
worker: the master owns the PID file, the control socket and app reloads; SIGHUP from the
master only swaps the TLS certificate in place).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import gevent
from gevent.server import StreamServer

from greenh2._version import __version__
from greenh2.config import Config
from greenh2.errors import ConfigError
from greenh2.ops import counters, logs, pidfile, scoreboard, systemd, watcher
from greenh2.ops.control import ControlInUse, bind_control, handle_client, resolve_path
from greenh2.server import handover
from greenh2.server.process import Server, as_gevent_socket

log = logging.getLogger("greenh2")


def live_counts(server: Server) -> dict[str, int]:
    return {"connections": len(server.pool),
            "streams": sum(getattr(s, "live", 0) for s in list(server.handler.active)),
            "requests": server.handler.dispatcher.requests}


def app_dir(spec: str) -> str:
    """The directory of the app's module (watched by --reload), '' when unknown."""
    module = sys.modules.get(spec.partition(":")[0]) if spec else None
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else ""


class ProcessOps:
    def __init__(self, server: Server, config: Config, urls: list[str], role: str,
                 inherited: handover.Inherited | None = None, app_dir: str = "") -> None:
        if inherited is not None and inherited.helper:
            role = "helper"
        self.server = server
        self.config = config
        self.urls = urls
        self.role = role
        self.inherited = inherited
        self.control: StreamServer | None = None
        self.control_path = ""
        self.reloading = False
        self.helper: subprocess.Popen[bytes] | None = None  # serving while this one drains
        self.kept: dict[str, int] = {}  # listening sockets kept for the restart in place
        self.started = time.time()
        self.roots = tuple(dict.fromkeys(p for p in (os.getcwd(), app_dir) if p))

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Called once the listeners accept."""
        self.server.on_hup = self._on_hup
        if self.role == "single":
            self._start_control()
            if self.config.pid:
                pidfile.write_pidfile(self.config.pid)
        if scoreboard.CURRENT is not None:
            gevent.spawn(self._publish, *scoreboard.CURRENT)
        if scoreboard.READY_FD >= 0:
            os.write(scoreboard.READY_FD, f"{os.getpid()}\n".encode())
        if self.config.reload and self.role != "helper":
            gevent.spawn(watcher.watch, self.roots, self._on_source_change, gevent.sleep)
        if self.inherited is not None:
            handover.unblock_signals()  # held across the restart in place, handled from now
            self.inherited.signal_ready()
            if self.inherited.helpers:
                gevent.spawn(handover.retire_helpers, self.inherited.helpers)
                log.info("reload complete: serving the new code")  # (READY=1: cli's ready())

    def finish(self) -> None:
        """After the graceful stop: hand over in place (a reload), or clean up and exit."""
        if self.helper is not None and not self.server.stop_requested:
            fds = self.kept
            control = (self.control.socket.fileno(), self.control_path) if self.control else None
            handover.restart_in_place(fds, control, [self.helper.pid])
        if self.helper is not None:  # stopped during a reload: the helper stops too
            handover.retire_helpers([self.helper.pid])
        if self.control is not None:
            self.control.close()
            try:
                os.unlink(self.control_path)
            except OSError:
                pass
        if self.config.pid and self.role == "single":
            pidfile.remove_pidfile(self.config.pid)

    def _listening(self) -> list[tuple[str, Any]]:
        """(key, StreamServer): keyed by bind text, so a successor adopts the sockets whose
        bind is unchanged; by position ('#0'...) when the sockets did not come from --bind
        (e.g. socket activation), and then the successor adopts them all, in order."""
        servers = self.server.servers
        keys = list(self.config.bind) if len(self.config.bind) == len(servers) else \
            [f"#{i}" for i in range(len(servers))]
        return list(zip(keys, servers, strict=True))

    def _start_control(self) -> None:
        path = resolve_path(self.config.control_socket)
        sock = None
        if self.inherited is not None and self.inherited.control is not None:
            fd, old_path = self.inherited.control
            if old_path == path:
                sock = socket.socket(fileno=fd)
            else:
                os.close(fd)
        if not path:
            return
        try:
            sock = sock or bind_control(path)
        except (ControlInUse, OSError) as exc:
            log.warning("control socket off: %s (choose one with --control-socket)", exc)
            return
        self.control_path = path
        self.control = StreamServer(as_gevent_socket(sock), lambda c, a: handle_client(c, self))
        self.control.start()
        log.info("control socket: %s", path)

    def _publish(self, board: scoreboard.Scoreboard, slot: int) -> None:
        while True:
            counts = live_counts(self.server)
            board.write(slot, os.getpid(), counts["connections"], counts["streams"],
                        counts["requests"])
            gevent.sleep(0.25)

    # --- the control target ----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "mode": "single", "version": __version__,
                "uptime": round(time.time() - self.started, 3), "listeners": self.urls,
                **live_counts(self.server), "workers": [],
                "helper": self.helper.pid if self.helper is not None else None,
                "draining": self.server.stopping.is_set(), "reloading": self.reloading}

    def stats(self) -> dict[str, Any]:
        return {"live": live_counts(self.server), "metrics": counters.registry_samples()}

    def reload(self, what: str) -> dict[str, Any]:
        if what == "tls":
            return {"tls": self.swap_tls()}
        if self.reloading or self.role != "single":
            raise ValueError("a reload is already in progress")
        self.reloading = True
        gevent.spawn(self.full_reload)
        return {"reloading": True, "pid": os.getpid()}

    def reopen(self) -> dict[str, Any]:
        logs.reopen()  # what SIGUSR1 does, here directly
        return {"reopened": True}

    def stop(self) -> dict[str, Any]:
        self.server.request_stop()
        return {"stopping": True, "pid": os.getpid()}

    def workers(self, delta: int) -> dict[str, Any]:
        raise ValueError("workers +N|-N needs --workers (this server runs one process)")

    # --- reload ----------------------------------------------------------------------------

    def _on_hup(self) -> None:
        if self.role == "worker":
            self.swap_tls()
        elif self.role == "helper" or self.reloading:
            log.info("SIGHUP ignored: a reload is in progress")
        else:
            self.reloading = True
            gevent.spawn(self.full_reload)

    def _on_source_change(self, path: str) -> None:
        log.info("--reload: %s changed", path)
        if self.role == "worker":
            os.kill(os.getppid(), signal.SIGHUP)  # the master replaces every worker
        elif not self.reloading:
            self.reloading = True
            self.full_reload()

    def swap_tls(self) -> bool:
        """New TLS connections get the certificate and key now on disk; open ones keep theirs."""
        if not self.server.handler.ssl_context or not self.config.certfile:
            return False
        from greenh2.server.tls import make_context
        try:
            self.server.handler.ssl_context = make_context(self.config, self.config.certfile,
                                                           self.config.keyfile)
        except ConfigError as exc:
            log.error("TLS reload failed, keeping the current certificate: %s", exc)
            return False
        log.info("TLS certificate reloaded from %s", self.config.certfile)
        return True

    def full_reload(self) -> None:
        """SIGHUP with one process: certificates and logs at once, then new code (handover)."""
        try:
            systemd.reloading()
            self.swap_tls()
            logs.reopen()
            fds = {text: s.socket.fileno() for text, s in self._listening()}
            self.helper = handover.start_helper(fds)
            if self.helper is not None:
                # the graceful stop closes the listeners; copies stay for the restart in place
                self.kept = {text: os.dup(fd) for text, fd in fds.items()}
                self.server.skip_drain_delay = True  # the helper already accepts
                self.server.on_draining = None  # a reload, not a stop: no STOPPING=1
                self.server.stopping.set()  # drain; finish() restarts this pid in place
                return
            systemd.ready()
            self.reloading = False
        except Exception:
            self.reloading = False
            raise
