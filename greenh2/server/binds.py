"""Opening listen addresses (parsed by `greenh2.addresses`).

Pure standard-library code so the pre-fork master can bind before any gevent import."""
from __future__ import annotations

import errno
import os
import socket
import stat

from greenh2.addresses import BindAddress, parse_bind
from greenh2.errors import ConfigError

__all__ = ["BindAddress", "address_of", "open_listener", "parse_bind"]


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


def address_of(sock: socket.socket) -> BindAddress:
    """What an inherited (socket-activated) listener is bound to, for the 'Listening at' line."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return BindAddress(socket.AF_UNIX, path=name if isinstance(name, str) else name.decode())
    return BindAddress(sock.family, host=name[0], port=name[1], fd=sock.fileno())
