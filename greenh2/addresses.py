"""Listen addresses as text: HOST:PORT, [IPv6]:PORT, unix:PATH, fd://N.

Part of the shared vocabulary (next to `config`): `Config` validates its `bind` entries with
`parse_bind`, and the server opens them (`greenh2.server.binds`). Standard library only.
"""
from __future__ import annotations

import socket
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
