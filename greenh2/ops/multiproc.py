"""prometheus_client's multiprocess mode for greenh2: the per-run directory and its bookkeeping.

With `--workers N` (and under gunicorn) every process writes its metric values to files of its
own under one directory, which prometheus_client reads from PROMETHEUS_MULTIPROC_DIR *when it is
imported*: `prepare_multiprocess` creates the directory and exports the variable in the master
before any import or fork, and removes it at exit. A worker that exits keeps its counters (its
files stay); its live gauges are dropped (`forget_process`), also for workers that vanished
without a word (`prune_dead`, run before every scrape: SIGKILL, or gunicorn's arbiter).
"""
from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import sys
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _Owner:
    pid = 0
    dir = ""


_owner = _Owner()  # the process that created the multiprocess directory (and removes it)


def prepare_multiprocess() -> str:
    """Create this run's metrics directory and export it; must run before prometheus_client is
    imported anywhere in the process (and so in the workers it forks). Removed at exit by the
    process that created it."""
    if _owner.dir:
        return _owner.dir
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before the metrics directory was set")
    path = tempfile.mkdtemp(prefix="greenh2-metrics-")
    os.environ[MULTIPROC_ENV] = path
    _owner.pid, _owner.dir = os.getpid(), path
    atexit.register(_cleanup)
    return path


def _cleanup() -> None:
    if os.getpid() == _owner.pid and _owner.dir:  # forked workers inherit atexit
        shutil.rmtree(_owner.dir, ignore_errors=True)


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


def forget_process(pid: int) -> None:
    """A worker exited: its gauges (open connections, streams) stop counting; its counters stay."""
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid, path)


_PID_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def prune_dead() -> None:
    """Forget processes whose live-gauge files remain although they are gone (a SIGKILLed
    worker, or gunicorn's arbiter, which does not tell us when a worker exits)."""
    path = multiprocess_dir()
    if not path:
        return
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _PID_FILE.search(name)
        if match and not _alive(int(match.group(1))):
            forget_process(int(match.group(1)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
