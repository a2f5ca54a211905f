"""`-p/--pid FILE`: the PID file, with gunicorn's rules.

A file naming a live process refuses the start (two servers must not fight over one file); a
file naming a dead process (a crash, a SIGKILL) is stale and replaced. The file is removed at
exit only while it still names this process: after a reload hands over to a successor, the file
belongs to the successor.
"""
from __future__ import annotations

import contextlib
import os

from greenh2.errors import ConfigError


def read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def check_pidfile(path: str, successor_of: int = 0) -> None:
    """Refuse with one line when `path` names another live process; `successor_of` is the pid
    of the process this one takes over from on a reload (its file is ours to overwrite)."""
    pid = read_pid(path)
    if pid and pid not in (os.getpid(), successor_of) and alive(pid):
        raise ConfigError(f"pid file {path} names a running process ({pid}): is greenh2 already "
                          "running?")


def write_pidfile(path: str) -> None:
    """Write atomically (rename), so a reader never sees an empty or half-written file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_pidfile(path: str) -> None:
    if read_pid(path) == os.getpid():
        with contextlib.suppress(OSError):
            os.unlink(path)
