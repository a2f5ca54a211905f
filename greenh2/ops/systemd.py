"""systemd integration without the python-systemd dependency: `sd_notify` and socket activation.

`notify()` sends one datagram of newline-separated `KEY=VALUE` lines to `$NOTIFY_SOCKET`
(sd_notify(3)); an address starting with `@` is in the Linux abstract namespace. Outside systemd
(no `NOTIFY_SOCKET`) every helper is a no-op that returns False, so callers never test for it.

`listen_fds()` takes the sockets systemd (or `systemd-socket-activate`) passed in, as
sd_listen_fds(3) defines them: `LISTEN_PID` must be this process, `LISTEN_FDS` counts the
descriptors starting at 3, `LISTEN_FDNAMES` names them. The variables are removed afterwards so
the application's own child processes do not believe the sockets are theirs.
Standard library only (the pre-fork master calls this before gevent is imported).
"""
from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping

SD_LISTEN_FDS_START = 3  # sd_listen_fds(3)


def notify(*lines: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send `lines` (e.g. "READY=1", "STATUS=serving") to the service manager.
    Returns True when a datagram was sent; failures are swallowed (notification is advisory)."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or not lines:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace (unix(7))
    elif not address.startswith("/"):
        return False  # vsock: and other transports are not supported here
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode("utf-8"))
    except OSError:
        return False
    return True


def ready(status: str = "") -> bool:
    """READY=1 (with MAINPID, so a manager that started a wrapper still tracks us)."""
    lines = ["READY=1", f"MAINPID={os.getpid()}"]
    return notify(*lines, *([f"STATUS={status}"] if status else []))


def reloading(status: str = "reloading") -> bool:
    """RELOADING=1 at the start of a reload; follow with `ready()` when it is done.
    MONOTONIC_USEC is what Type=notify-reload units require (systemd 253+)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}", f"STATUS={status}")


def stopping(status: str = "stopping: draining connections") -> bool:
    return notify("STOPPING=1", f"STATUS={status}")


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def mainpid(pid: int) -> bool:
    """MAINPID=: a process that hands the service over to another one names its successor."""
    return notify(f"MAINPID={pid}")


def listen_fds(environ: MutableMapping[str, str] | None = None, unset: bool = True) -> list[socket.socket]:
    """Listening sockets passed by socket activation, or [] when there are none for this pid."""
    env = os.environ if environ is None else environ
    try:
        pid = int(env.get("LISTEN_PID", ""))
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    if unset:
        for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(key, None)
    if pid != os.getpid() or count <= 0:
        return []
    socks = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        socks.append(socket.socket(fileno=fd))  # family and type read from the descriptor
    return socks


def listen_fd_names(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """LISTEN_FDNAMES split on ':' (read it before `listen_fds()` unsets it)."""
    env = os.environ if environ is None else environ
    names = env.get("LISTEN_FDNAMES", "")
    return names.split(":") if names else []
