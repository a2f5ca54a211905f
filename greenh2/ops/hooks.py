"""One-line hooks into neighbouring operations features, so reload and the control socket call
them without owning them: log reopening (SIGUSR1, the metrics/logs area) and systemd
notifications (the deploy area). Each degrades to nothing when its owner is absent.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal

log = logging.getLogger("greenh2")


def _caught(sig: int, pid: int) -> bool:
    """True when process `pid` handles `sig` (Linux: SigCgt in /proc/<pid>/status); sending
    an unhandled SIGUSR1 would kill the process instead of reopening its logs."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


def reopen_logs(pid: int = 0, quiet: bool = False) -> bool:
    """Reopen log files of process `pid` (default: this one) the way SIGUSR1 does."""
    pid = pid or os.getpid()
    if not _caught(signal.SIGUSR1, pid):
        (log.debug if quiet else log.warning)("log reopen: process %d has no SIGUSR1 handler", pid)
        return False
    os.kill(pid, signal.SIGUSR1)
    return True


def notify(event: str) -> None:
    """Tell systemd about a reload: `event` is 'reloading' or 'ready', the names of the deploy
    area's sd_notify helpers (greenh2.ops.systemd); nothing when that module is absent (and
    nothing outside a Type=notify unit)."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    try:
        sdnotify = importlib.import_module("greenh2.ops.systemd")
    except ImportError:
        return
    send = getattr(sdnotify, event, None)
    if callable(send):
        send()
