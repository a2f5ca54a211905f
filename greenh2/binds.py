"""Parsing and opening listen addresses: HOST:PORT, [IPv6]:PORT, unix:PATH, fd://N.

Pure standard-library code so the pre-fork master can bind before any gevent import."""
from __future__ import annotations

import errno
import os
import socket
import stat
from dataclasses import dataclass

from greenh2.errors import ConfigError


@dataclass(frozen=True)
class BindAddress:
    family: int
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1

    def url(self, tls: bool, sock: socket.socket | None = None) -> str:
        if self.family == socket.AF_UNIX:
            return f"unix:{self.path}"
        port = sock.getsockname()[1] if sock is not None else self.port
        host = f"[{self.host}]" if self.family == socket.AF_INET6 else self.host
        return f"{'https' if tls else 'http'}://{host}:{port}"


def parse_bind(text: str) -> BindAddress:
    text = text.strip()
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ConfigError(f"bad bind address {text!r}: unix: needs a path")
        return BindAddress(socket.AF_UNIX, path=path)
    if text.startswith("fd://"):
        try:
            return BindAddress(socket.AF_INET, fd=int(text[5:]))
        except ValueError:
            raise ConfigError(f"bad bind address {text!r}: fd:// needs a number") from None
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        family = socket.AF_INET6
    else:
        host, sep, port = text.rpartition(":")
        family = socket.AF_INET
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ConfigError(f"bad bind address {text!r}: expected HOST:PORT, [IPv6]:PORT or unix:PATH")
    host = host or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    if family == socket.AF_INET and ":" in host:
        raise ConfigError(f"bad bind address {text!r}: put IPv6 addresses in brackets")
    return BindAddress(family, host=host, port=int(port))


def open_listener(addr: BindAddress, backlog: int = 2048) -> socket.socket:
    """Bind and listen; failures become one readable ConfigError line."""
    if addr.fd >= 0:
        sock = socket.socket(fileno=addr.fd)
        return sock
    sock = socket.socket(addr.family, socket.SOCK_STREAM)
    try:
        if addr.family == socket.AF_UNIX:
            _remove_stale_unix_socket(addr.path)
            sock.bind(addr.path)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if addr.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((addr.host, addr.port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        where = addr.path or f"{addr.host}:{addr.port}"
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ConfigError(f"cannot listen on {where}: {reason}") from None
    return sock


def _remove_stale_unix_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
