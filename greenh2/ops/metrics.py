"""Prometheus metrics for greenh2 (`--metrics-bind`), through `prometheus_client`.

`PrometheusObserver` is the `greenh2.observe.Observer` that counts into the greenh2_* metrics.
With one process the metrics live in prometheus_client's default in-memory registry. With
`--workers N` (and under gunicorn) they use prometheus_client's multiprocess mode: every process
writes its own files under a per-run directory (`greenh2.ops.multiproc`), so a worker that exits
loses none of its counts; the open-connection gauges are `livesum`.

Per-request cost: a request only adds to plain Python lists; the changes reach prometheus_client
in bulk (`PrometheusObserver.flush`). benchmarks/metrics_cost.py measures it.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from bisect import bisect_left
from typing import Any

from greenh2.observe import Observer
from greenh2.ops.multiproc import (
    forget_process,
    multiprocess_dir,
    prepare_multiprocess,
    prune_dead,
)

__all__ = ["Metrics", "PrometheusObserver", "collect_registry", "install_observer",
           "multiprocess_dir", "prepare_multiprocess", "snapshot"]

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                     "PATCH"))
PROTOCOLS = frozenset(("h2", "http/1.1"))
# Seconds; web requests cluster below a second, streams and uploads run longer.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0)
_BOUNDS = DURATION_BUCKETS + (float("inf"),)  # histogram buckets as prometheus_client keeps them
FLUSH_INTERVAL = 1.0  # seconds a scrape may lag behind requests on long-lived connections
_ERROR_NAMES: dict[int, str] = {}  # RFC 9113 §7 code -> name; anything else is UNKNOWN
def collect_registry() -> Any:
    """The registry to expose or enumerate (`greenh2ctl stats` reads it in-process): the
    aggregate of every process in multiprocess mode, else prometheus_client's default one."""
    from prometheus_client import REGISTRY, CollectorRegistry
    for observer in _installed:
        observer.flush()
    path = multiprocess_dir()
    if not path:
        return REGISTRY
    from prometheus_client import multiprocess
    prune_dead()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path)
    return registry


def snapshot() -> dict[str, float]:
    """Every greenh2_* sample as {'name{label="v",...}': value} (for JSON, e.g. greenh2ctl)."""
    out: dict[str, float] = {}
    for family in collect_registry().collect():
        if not family.name.startswith("greenh2_"):
            continue
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


class Metrics:
    """The greenh2_* metric families (created once per process, registered in the default
    registry; in multiprocess mode their values go to this process's files)."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Gauge, Histogram
        reg: Any = REGISTRY if registry is None else registry
        self.connections = Gauge("greenh2_connections", "Open connections", ["protocol", "tls"],
                                 multiprocess_mode="livesum", registry=reg)
        # Not greenh2_connections_total: a counter's family name would be greenh2_connections,
        # the open-connections gauge's name (prometheus_client and OpenMetrics refuse the clash).
        self.connections_total = Counter("greenh2_connections_accepted_total", "Connections "
                                         "accepted (counted once: an h2c upgrade stays http/1.1)",
                                         ["protocol", "tls"], registry=reg)
        self.streams_active = Gauge("greenh2_streams_active", "HTTP/2 streams with a running "
                                    "handler", multiprocess_mode="livesum", registry=reg)
        self.requests = Counter("greenh2_requests_total", "Requests answered",
                                ["protocol", "method", "status"], registry=reg)
        self.duration = Histogram("greenh2_request_duration_seconds", "Request duration, from "
                                  "dispatch to the end of the response", ["protocol"],
                                  buckets=DURATION_BUCKETS, registry=reg)
        self.request_bytes = Counter("greenh2_request_bytes_total", "Request body bytes read by "
                                     "the application", ["protocol"], registry=reg)
        self.response_bytes = Counter("greenh2_response_bytes_total", "Response body bytes sent",
                                      ["protocol"], registry=reg)
        self.resets = Counter("greenh2_resets_total", "RST_STREAM frames", ["direction", "code"],
                              registry=reg)
        self.goaways = Counter("greenh2_goaways_total", "GOAWAY frames", ["direction", "code"], registry=reg)
        self.refused = Counter("greenh2_refused_streams_total", "Streams refused with "
                               "REFUSED_STREAM (max_concurrent_streams, or draining)", registry=reg)
        self.limit_trips = Counter("greenh2_limit_trips_total", "Protective limits that fired "
                                   "(README: Limits)", ["limit"], registry=reg)
        self.shed = Counter("greenh2_connections_shed_total", "Connections closed to admit a "
                            "new one at worker_connections, by what made them the one to go",
                            ["reason"], registry=reg)
        self.websockets = Gauge("greenh2_websockets", "Open WebSocket connections", ["protocol"],
                                multiprocess_mode="livesum", registry=reg)
        self.worker_restarts = Counter("greenh2_worker_restarts_total", "Workers the master "
                                       "replaced after they exited (crash, max_requests)", registry=reg)
        self.events = Counter("greenh2_events_total", "Other observed events", ["name"], registry=reg)


def error_name(code: int) -> str:
    """RFC 9113 §7 name of an error code; codes a client invents collapse into UNKNOWN (the
    label set must stay bounded)."""
    name = _ERROR_NAMES.get(code)
    if name is None:
        from h2.errors import ErrorCodes
        try:
            name = ErrorCodes(int(code)).name
        except ValueError:
            return "UNKNOWN"
        _ERROR_NAMES[int(code)] = name
    return name


class PrometheusObserver(Observer):
    """Counts what the serving layers report into `Metrics`.

    The per-request path only adds to plain Python lists (a tally per label set: count,
    duration sum, body bytes, histogram buckets); `flush()` moves what changed into the
    prometheus_client children in bulk. It runs at every connection close, before a scrape in
    this process, once a second (a daemon thread, a greenlet once gevent patched threading)
    and at exit, so a scrape is at most a second behind a long-lived connection. Connection
    gauges and rare events (resets, GOAWAYs, limits) go straight to prometheus_client."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.m = metrics or Metrics()
        self._conns: dict[tuple[str, bool], tuple[Any, Any]] = {}
        self._reset_tallies()
        os.register_at_fork(after_in_child=self._reset_tallies)

    def _reset_tallies(self) -> None:
        """Fresh per-process state (also in a forked worker: its counts are its own)."""
        # (protocol, method, status) -> [count, duration sum, request bytes, response bytes,
        # one count per histogram bucket]; `_applied` holds what flush() has passed on.
        self._tally: dict[tuple[str, str, int], list[Any]] = {}
        self._applied: dict[tuple[str, str, int], list[Any]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        self._streams = 0
        self._streams_applied = 0
        self._flusher = False
        self._flush_lock = threading.Lock()

    # --- per connection / stream / request ---------------------------------------------------

    def _conn(self, protocol: str, tls: bool) -> tuple[Any, Any]:
        key = (protocol, tls)
        children = self._conns.get(key)
        if children is None:
            labels = (protocol if protocol in PROTOCOLS else "other", "true" if tls else "false")
            children = (self.m.connections.labels(*labels), self.m.connections_total.labels(*labels))
            self._conns[key] = children
        return children

    def connection_opened(self, protocol: str, tls: bool) -> None:
        gauge, total = self._conn(protocol, tls)
        gauge.inc()
        total.inc()

    def connection_closed(self, protocol: str, tls: bool) -> None:
        self.flush()
        self._conn(protocol, tls)[0].dec()

    def connection_upgraded(self, tls: bool) -> None:
        self._conn("h2", tls)[0].inc()

    def stream_opened(self) -> None:
        self._streams += 1

    def stream_closed(self) -> None:
        self._streams -= 1

    def request_done(self, protocol: str, method: str, status: int, duration: float,
                     request_bytes: int, response_bytes: int) -> None:
        if method not in METHODS:
            method = "OTHER"
        key = (protocol, method, status)
        tally = self._tally.get(key)
        if tally is None:
            tally = self._new_tally(key)
        tally[0] += 1
        tally[1] += duration
        tally[2] += request_bytes
        tally[3] += response_bytes
        tally[4 + bisect_left(_BOUNDS, duration)] += 1

    def _new_tally(self, key: tuple[str, str, int]) -> list[Any]:
        protocol, method, status = key
        if len(self._tally) >= 4096:  # statuses are app-chosen: keep the label sets bounded
            status = 0
            key = (protocol, method, status)
            if key in self._tally:
                return self._tally[key]
        protocol = protocol if protocol in PROTOCOLS else "other"
        status_class = f"{status // 100}xx" if 100 <= status < 600 else "none"
        m = self.m
        self._children[key] = (m.requests.labels(protocol, method, status_class),
                               m.duration.labels(protocol), m.request_bytes.labels(protocol),
                               m.response_bytes.labels(protocol))
        tally: list[Any] = [0, 0.0, 0, 0] + [0] * len(_BOUNDS)
        self._applied[key] = list(tally)
        self._tally[key] = tally
        if not self._flusher:
            self._start_flusher()
        return tally

    def flush(self) -> None:
        """Pass the tallies' changes on to prometheus_client (bulk increments)."""
        with self._flush_lock:
            for key, tally in list(self._tally.items()):
                applied = self._applied[key]
                if tally[0] == applied[0]:
                    continue
                now = list(tally)  # one writer (the serving loop): a consistent snapshot
                requests, hist, request_bytes, response_bytes = self._children[key]
                requests.inc(now[0] - applied[0])
                hist._sum.inc(now[1] - applied[1])
                for i in range(4, len(now)):
                    if now[i] != applied[i]:
                        hist._buckets[i - 4].inc(now[i] - applied[i])
                if now[2] != applied[2]:
                    request_bytes.inc(now[2] - applied[2])
                if now[3] != applied[3]:
                    response_bytes.inc(now[3] - applied[3])
                self._applied[key] = now
            streams = self._streams
            if streams != self._streams_applied:
                self.m.streams_active.inc(streams - self._streams_applied)
                self._streams_applied = streams

    def _start_flusher(self) -> None:
        self._flusher = True
        atexit.register(self.flush)
        thread = threading.Thread(target=self._flush_loop, name="greenh2-metrics-flush",
                                  daemon=True)
        thread.start()

    def _flush_loop(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            try:
                self.flush()
            except Exception:  # a metrics write must never take serving down
                logging.getLogger("greenh2").exception("metrics flush failed")

    # --- rare events --------------------------------------------------------------------------

    def reset(self, sent: bool, code: int) -> None:
        self.m.resets.labels("sent" if sent else "received", error_name(code)).inc()

    def goaway(self, sent: bool, code: int) -> None:
        self.m.goaways.labels("sent" if sent else "received", error_name(code)).inc()

    def refused_stream(self) -> None:
        self.m.refused.inc()

    def limit_tripped(self, limit: str) -> None:
        self.m.limit_trips.labels(limit).inc()

    def connection_shed(self, reason: str) -> None:
        self.m.shed.labels(reason).inc()

    def worker_exited(self, pid: int, restarted: bool) -> None:
        forget_process(pid)
        if restarted:
            self.m.worker_restarts.inc()

    def event(self, name: str, **labels: Any) -> None:
        if name in ("websocket_opened", "websocket_closed"):
            protocol = labels.get("protocol", "")
            gauge = self.m.websockets.labels(protocol if protocol in PROTOCOLS else "other")
            gauge.inc() if name == "websocket_opened" else gauge.dec()
            return
        self.m.events.labels(name).inc()


_installed: list[PrometheusObserver] = []


def install_observer() -> PrometheusObserver:
    """Create the metrics (once per process) and make them the process's observer."""
    from greenh2 import observe
    if not _installed:
        _installed.append(PrometheusObserver())
    observe.install(_installed[0])
    return _installed[0]
