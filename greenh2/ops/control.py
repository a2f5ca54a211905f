"""The control socket: a unix socket (mode 0600) speaking one JSON object per line.

Request ``{"command": "status", "args": []}``, answer ``{"ok": true, "data": {...}}`` or
``{"ok": false, "error": "..."}``. Commands: status, stats, reload [tls], reopen, stop,
workers +N|-N. The serving side is a `ControlTarget` (one process, or the pre-fork master); this
module only frames and dispatches, and serves either from a gevent greenlet (a serving process)
or from the pre-fork master's own loop (`PolledControlServer`: no threads in the master).

Default path, as gunicorn 27 does it: ``$XDG_RUNTIME_DIR/greenh2.ctl`` when that directory
exists, else ``~/.greenh2/greenh2.ctl`` (directory created with mode 0700). A socket at the path
that still answers belongs to another live server and is left alone; a dead one is replaced.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from typing import Any, Protocol

log = logging.getLogger("greenh2")
MAX_LINE = 65536
CLIENT_IDLE = 30.0  # seconds a control client may stay silent
SEND_TIMEOUT = 5.0


class ControlInUse(Exception):
    """The control socket path is held by another live server."""


class ControlTarget(Protocol):
    def status(self) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Any]: ...
    def reload(self, what: str) -> dict[str, Any]: ...
    def reopen(self) -> dict[str, Any]: ...
    def stop(self) -> dict[str, Any]: ...
    def workers(self, delta: int) -> dict[str, Any]: ...


def default_path() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "greenh2.ctl")
    return os.path.join(os.path.expanduser("~"), ".greenh2", "greenh2.ctl")


def resolve_path(setting: str) -> str:
    """'' -> the default path, 'off' -> '' (no control socket), else the path made absolute."""
    if setting.lower() in ("off", "none", "no", "false"):
        return ""
    return os.path.abspath(setting) if setting else default_path()


def dispatch(target: ControlTarget, request: Any) -> dict[str, Any]:
    """Run one request against `target`; every failure is an answer, never an exception."""
    if not isinstance(request, dict) or not isinstance(request.get("command"), str):
        return {"ok": False, "error": 'expected {"command": NAME, "args": [...]}'}
    command, args = request["command"], [str(a) for a in request.get("args") or []]
    try:
        if command in ("status", "stats", "reopen", "stop") and not args:
            return {"ok": True, "data": getattr(target, command)()}
        if command == "reload" and args in ([], ["tls"]):
            return {"ok": True, "data": target.reload(args[0] if args else "all")}
        if command == "workers" and len(args) == 1 and args[0][:1] in "+-" and args[0][1:].isdigit():
            return {"ok": True, "data": target.workers(int(args[0]))}
    except ValueError as exc:  # a refused command (e.g. workers below 1)
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # a bug of ours: answer and keep serving
        log.exception("control command %r failed", command)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": False, "error": f"unknown command {' '.join([command, *args])!r} (status, stats, "
                                  "reload [tls], reopen, stop, workers +N|-N)"}


def answer_line(target: ControlTarget, line: bytes) -> bytes:
    try:
        request = json.loads(line)
    except ValueError:
        request = None
    return json.dumps(dispatch(target, request)).encode() + b"\n"


def bind_control(path: str) -> socket.socket:
    """Listen on `path` with mode 0600 (the umask covers the moment between bind and chmod)."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.path.exists(path):
        if _answers(path):
            raise ControlInUse(f"control socket {path} belongs to a running server")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(16)
    return sock


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def handle_client(conn: socket.socket, target: ControlTarget) -> None:
    """Answer each line of one client until it closes (or 30 s of silence)."""
    conn.settimeout(30.0)
    with contextlib.suppress(OSError), conn, conn.makefile("rb") as reader:
        for line in iter(lambda: reader.readline(MAX_LINE), b""):
            if line.strip():
                conn.sendall(answer_line(target, line))


class PolledControlServer:
    """For the pre-fork master, without threads (a thread alive at `fork()` can deadlock the
    child: it may hold a lock the child then waits for). The master's loop selects on
    `sockets()` and calls `readable()`; clients are non-blocking, each line is answered when
    complete, and a client silent for CLIENT_IDLE seconds is dropped."""

    def __init__(self, sock: socket.socket, target: ControlTarget) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.target = target
        self.clients: dict[socket.socket, tuple[bytearray, float]] = {}

    def sockets(self) -> list[socket.socket]:
        now = time.monotonic()
        for conn, (_, seen) in list(self.clients.items()):
            if now - seen > CLIENT_IDLE:
                self._drop(conn)
        return [self.sock, *self.clients]

    def readable(self, sock: socket.socket) -> None:
        if sock is self.sock:
            with contextlib.suppress(OSError):  # BlockingIOError: another process took it
                conn, _ = self.sock.accept()
                conn.setblocking(False)
                self.clients[conn] = (bytearray(), time.monotonic())
            return
        buf, _ = self.clients[sock]
        try:
            data = sock.recv(MAX_LINE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        buf += data
        self.clients[sock] = (buf, time.monotonic())
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            if line.strip() and not self._send(sock, answer_line(self.target, line)):
                return
        if len(buf) > MAX_LINE:
            self._drop(sock)

    def _send(self, conn: socket.socket, data: bytes) -> bool:
        try:
            conn.settimeout(SEND_TIMEOUT)  # an answer is small: it fits the socket buffer
            conn.sendall(data)
            conn.setblocking(False)
            return True
        except OSError:
            self._drop(conn)
            return False

    def _drop(self, conn: socket.socket) -> None:
        self.clients.pop(conn, None)
        conn.close()

    def close(self) -> None:
        for conn in list(self.clients):
            self._drop(conn)
        self.sock.close()
