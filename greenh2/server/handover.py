"""Reload with one process, keeping its process id: hand the listening sockets over twice.

1. The serving process (A) starts a *helper*: the same command line (interpreter, arguments,
   starting directory) with the listening sockets as inherited descriptors named in
   ``_GREENH2_INHERIT`` (JSON; outside the GREENH2_* settings namespace). The helper loads the
   configuration, certificates and app code now on disk, adopts the sockets instead of binding
   them, serves, and only then writes one byte on a readiness pipe. Both accept on the same
   sockets for a moment, so no connection is refused. If the helper fails, A keeps serving.
2. A drains gracefully (GOAWAY, in-flight requests finish) while the helper serves new
   connections, then re-executes itself in place with the same sockets (and its control
   socket): the same process id comes back with the new code, and retires the helper once it
   serves. So the PID file, systemd's main PID, a container's PID 1 and the shell's job never
   change across a reload.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from greenh2.server.binds import BindAddress, open_listener, parse_bind

log = logging.getLogger("greenh2")
ENV = "_GREENH2_INHERIT"
START_DIR = os.getcwd()  # before any chdir: successors start where this process started
READY_TIMEOUT = 60.0
HELD = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1}


def unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)


@dataclass
class Inherited:
    """What this process received from the one it takes over from."""
    binds: dict[str, int] = field(default_factory=dict)
    control: tuple[int, str] | None = None
    ready_fd: int = -1
    parent: int = 0
    helper: bool = False  # a temporary helper: no PID file, no control socket, no reloads
    helpers: list[int] = field(default_factory=list)  # helpers to retire once serving

    def listeners(self, bind: tuple[str, ...]) -> list[socket.socket]:
        """Adopt the inherited socket of each unchanged bind, open new ones, close the rest.
        Sockets passed by position (not from --bind, e.g. socket activation) are all adopted."""
        if any(key.startswith("#") for key in self.binds):
            adopted = [socket.socket(fileno=fd) for _, fd in sorted(self.binds.items(),
                                                                    key=lambda kv: int(kv[0][1:]))]
            self.binds.clear()
            return adopted
        out = []
        for text in bind:
            fd = self.binds.pop(text, -1)
            out.append(socket.socket(fileno=fd) if fd >= 0 else open_listener(parse_bind(text)))
        for fd in self.binds.values():
            os.close(fd)
        self.binds.clear()
        return out

    def signal_ready(self) -> None:
        if self.ready_fd >= 0:
            try:
                os.write(self.ready_fd, b"R")
            finally:
                os.close(self.ready_fd)
                self.ready_fd = -1


def address_of(sock: socket.socket) -> BindAddress:
    """The BindAddress of an adopted socket (for the 'Listening at' line)."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return BindAddress(sock.family, path=str(name))
    return BindAddress(sock.family, host=name[0], port=name[1])


def take_inherited() -> Inherited | None:
    """Read (and remove from the environment) what the predecessor passed, if anything."""
    raw = os.environ.pop(ENV, "")
    if not raw:
        return None
    data = json.loads(raw)
    control = data.get("control")
    return Inherited({str(k): int(v) for k, v in data.get("binds", {}).items()},
                     (int(control[0]), str(control[1])) if control else None,
                     int(data.get("ready", -1)), int(data.get("parent", 0)),
                     bool(data.get("helper")), [int(p) for p in data.get("helpers", [])])


def command_line() -> list[str]:
    """This process's own command line, runnable again (`python -m greenh2 ...` or the script)."""
    return [sys.executable, *sys.orig_argv[1:]]


def _env(**inherit: object) -> dict[str, str]:
    # Sockets travel in ENV; systemd's LISTEN_* numbers would name other descriptors by now.
    env = {k: v for k, v in os.environ.items() if k not in ("LISTEN_FDS", "LISTEN_PID",
                                                             "LISTEN_FDNAMES")}
    env[ENV] = json.dumps({**inherit, "parent": os.getpid()})
    return env


def start_helper(binds: dict[str, int]) -> subprocess.Popen[bytes] | None:
    """Step 1: start the helper and wait until it serves; None if it failed (logged)."""
    ready_r, ready_w = os.pipe()
    try:
        proc = subprocess.Popen(command_line(), pass_fds=[*binds.values(), ready_w], cwd=START_DIR,
                                env=_env(binds=binds, ready=ready_w, helper=True))
    except OSError as exc:
        log.error("reload failed: cannot start a new process: %s", exc)
        return None
    finally:
        os.close(ready_w)
    try:
        if _wait_ready(ready_r, proc):
            log.info("reload: helper %d serves the new code; %d drains", proc.pid, os.getpid())
            return proc
    finally:
        os.close(ready_r)
    code = proc.poll()
    if code is None:
        proc.kill()
        proc.wait()
        log.error("reload failed: the new process did not start within %.0fs; still serving",
                  READY_TIMEOUT)
    else:
        log.error("reload failed: the new process exited with status %s; still serving the "
                  "previous code and certificates", code)
    return None


def _wait_ready(fd: int, proc: subprocess.Popen[bytes]) -> bool:
    from gevent.socket import wait_read
    os.set_blocking(fd, False)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            wait_read(fd, max(deadline - time.monotonic(), 0.01))
        except Exception:  # gevent's timeout: the loop condition decides
            continue
        try:
            data = os.read(fd, 16)
        except BlockingIOError:
            continue
        if not data:  # every write end closed: the helper exited or gave up
            proc.wait()
            return False
        if b"R" in data:
            return True
    return False


def restart_in_place(binds: dict[str, int], control: tuple[int, str] | None,
                     helpers: list[int]) -> None:
    """Step 2: become a fresh copy of this command, keeping the pid; never returns."""
    for fd in [*binds.values(), *([control[0]] if control else [])]:
        os.set_inheritable(fd, True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    for handler in logging.getLogger("greenh2").handlers:
        handler.flush()
    os.chdir(START_DIR)
    # Signals arriving before the new image installs its handlers wait (the mask survives
    # execve) instead of killing it with their default action; `unblock_signals` lets them in.
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    os.execve(sys.executable, command_line(),
              _env(binds=binds, control=list(control) if control else None, helpers=helpers))


def retire_helpers(pids: list[int]) -> None:
    """Tell helpers to drain (SIGTERM) and reap them as they exit (run in a greenlet)."""
    import gevent
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    waiting = set(pids)
    while waiting:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        gevent.sleep(0.2)


def supervise_helpers(pids: list[int]) -> int:
    """The in-place restart could not load the app (it was edited again and broke): the helper
    keeps serving; this process stays its parent, forwards stop signals and exits with it."""
    log.error("reload: the restarted process cannot serve; helper %s keeps serving until stopped",
              pids)
    def forward(signum: int, frame: object) -> None:
        for pid in pids:
            _signal(pid, signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, forward)
    unblock_signals()
    code = 0
    for pid in pids:
        try:
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except ChildProcessError:
            pass
    return code


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
