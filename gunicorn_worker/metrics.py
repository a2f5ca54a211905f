"""`--metrics-bind` under gunicorn: `GREENH2_METRICS_BIND=HOST:PORT gunicorn -k greenh2.worker`.

gunicorn's config has no such setting, so it travels the greenh2 way (the `GREENH2_*`
environment, which the settings mapping applies last; a gunicorn config file may set
`raw_env = ["GREENH2_METRICS_BIND=127.0.0.1:9100"]`). The listener runs in gunicorn's arbiter,
like the standalone master's, so it keeps answering while workers restart; the workers count
into prometheus_client's multiprocess files, whose directory is created when the arbiter loads
this worker class (before `--preload` imports the app, and before any fork; with `raw_env`,
when the arbiter builds its first worker). `/readyz` turns 503
when the arbiter gets SIGTERM/SIGINT/SIGQUIT. Dead workers' gauges are dropped at each scrape.
"""
from __future__ import annotations

import os
import signal
from typing import Any

ENV = "GREENH2_METRICS_BIND"
_arbiter: dict[str, Any] = {"pid": 0, "started": False}


def prepare_arbiter() -> None:
    """At worker-class import (in the arbiter): export the multiprocess directory."""
    if not os.environ.get(ENV) or _arbiter["pid"]:
        return
    from greenh2.ops.metrics import prepare_multiprocess
    try:
        prepare_multiprocess()
    except RuntimeError:  # the app imported prometheus_client first: the worker says so
        return
    _arbiter["pid"] = os.getpid()


def start_in_arbiter(glog: Any) -> None:
    """From the first worker object the arbiter builds: listen, watch stop signals."""
    address = os.environ.get(ENV, "")
    if not address or _arbiter["started"]:
        return
    _arbiter["started"] = True
    prepare_arbiter()  # raw_env is applied after gunicorn imported the worker class
    if _arbiter["pid"] != os.getpid():
        glog.error("greenh2 metrics not served: prometheus_client was imported before the "
                   "metrics directory was set (--preload app with raw_env? export "
                   "GREENH2_METRICS_BIND in the environment instead)")
        return
    from greenh2.errors import ConfigError
    from greenh2.ops.health import start_listener, url
    from greenh2.ops.metrics import install_observer
    install_observer()
    try:
        glog.info("greenh2 metrics at: %s (and /healthz, /readyz)", url(start_listener(address)))
    except ConfigError as exc:
        glog.error("greenh2 metrics not served: %s", exc)
        return
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        _chain_draining(sig)


def _chain_draining(sig: int) -> None:
    """Mark the arbiter draining (/readyz 503), then let gunicorn's own handler run."""
    previous = signal.getsignal(sig)

    def handler(signum: int, frame: Any) -> None:
        from greenh2.observe import STATE
        STATE.start_draining()
        if callable(previous):
            previous(signum, frame)
    signal.signal(sig, handler)


def install_in_worker(metrics_bind: str, glog: Any) -> None:
    """In a worker: count into the arbiter's multiprocess directory."""
    if not metrics_bind:
        return
    from greenh2.ops.metrics import install_observer, multiprocess_dir
    if not multiprocess_dir():
        glog.warning("greenh2 metrics: no multiprocess directory (prometheus_client was imported "
                     "before gunicorn loaded the worker class); this worker is not counted")
        return
    install_observer()
