"""The scenarios of issue 5 (M1..M7), their load parameters in full and quick mode, and targets.

Why this module exists: what is measured, how hard and for how long, and what "pass" means
for greenh2 are decisions that belong in one readable table rather than spread through the
runner. Every load is bounded: throughput scenarios use h2load's -D (fixed duration), the
others a fixed request count, and all of them a hard timeout.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    app: str
    tls: bool = True
    h1: bool = False
    clients: int = 50
    streams: int = 10
    requests: int | None = None  # fixed-count run (None: fixed duration)
    timed: bool = True  # h2load -D run (duration from the mode)
    upload: bool = False  # h2load -d <1 MiB file>
    metric: str = "req/s"  # req/s | MiB/s | wall s | sse
    ready_path: str = "/"
    timeout: float = 60.0


# Ordered as the report shows them. M3/M3b/M7 are fixed-work runs, the rest fixed-duration.
SCENARIOS: list = [
    Scenario("M1", "hello, h2 over TLS, -c 50 -m 10", "hello"),
    Scenario("M2", "hello, h2c prior knowledge, -c 50 -m 10", "hello", tls=False),
    Scenario("M3", "sleep 50 ms, -c 10 -m 100 -n 1000", "sleep50", clients=10, streams=100,
             requests=1000, timed=False, timeout=120.0),
    Scenario("M3b", "100 x sleep 50 ms on ONE connection, -c 1 -m 100", "sleep50", clients=1,
             streams=100, requests=100, timed=False, metric="wall s", timeout=60.0),
    Scenario("M4", "1 MiB downloads, TLS, -c 4 -m 4", "download", clients=4, streams=4,
             metric="MiB/s"),
    Scenario("M5", "1 MiB uploads echoed, TLS, -c 4 -m 4", "upload", clients=4, streams=4,
             upload=True, metric="MiB/s"),
    Scenario("M6", "hello, HTTP/1.1 over TLS (--h1), -c 50", "hello", h1=True, clients=50,
             streams=1),
    Scenario("M7", "concurrent SSE streams, 100 per conn, 1 event per 100 ms for 5 s", "sse",
             clients=100, streams=100, timed=False, metric="sse", ready_path="/?count=1"),
]
BY_KEY = {s.key: s for s in SCENARIOS}


@dataclass(frozen=True)
class Mode:
    name: str
    duration: float  # h2load -D seconds for timed scenarios
    warmup: float  # h2load --warm-up-time seconds
    reps: int
    m7_streams: int
    m7_grace: float  # M7 deadline = 5 s of events + this
    ceiling_seconds: float


FULL = Mode("full", duration=3.0, warmup=1.0, reps=3, m7_streams=10000, m7_grace=15.0,
            ceiling_seconds=3.0)
QUICK = Mode("quick", duration=1.0, warmup=0.0, reps=1, m7_streams=500, m7_grace=5.0,
             ceiling_seconds=0.5)


def m7_shape(streams: int) -> tuple:
    """(connections, streams per connection) for M7: 100 streams per connection."""
    per_conn = min(100, max(1, streams))
    return max(1, streams // per_conn), per_conn


def target(key: str, row: dict, base: dict | None, ceiling: float | None) -> tuple:
    """(passed or None when it cannot be judged, text of the target) for greenh2's result `row`.

    `row`/`base` are summaries (see run.summarize) of greenh2 and of the gunicorn baseline.
    """
    if not row or row.get("error"):
        return None, "no result"
    value = row.get("value")
    ratio = (value / base["value"]) if base and base.get("value") and value is not None else None
    if key in ("M1", "M2"):
        share = (value / ceiling) if ceiling and value is not None else None
        spread = row.get("max_s", 0) <= 5 * row.get("mean_s", 0) if row.get("mean_s") else None
        checks = [ratio is not None and ratio >= 2, share is not None and share >= 0.5, spread]
        ok = None if ratio is None or share is None else all(bool(c) for c in checks)
        return ok, ">=2x gunicorn, >=50% ceiling, max<=5x mean"
    if key == "M3":
        return (None if ratio is None else ratio >= 25), ">=25x gunicorn"
    if key == "M3b":
        return (value is not None and value < 0.2 and not row.get("errors")), "< 0.2 s"
    if key in ("M4", "M5"):
        return (None if ratio is None else ratio >= 2.5), ">=2.5x gunicorn"
    if key == "M6":
        return (None if ratio is None else ratio >= 1.0), ">=1x gunicorn"
    if key == "M7":
        p99 = row.get("gap_p99_ms")
        ok = (row.get("completed") == row.get("streams") and p99 is not None and p99 < 500
              and row.get("rss_mib", 1e9) < 300)
        return ok, "all complete, gap p99<500 ms, RSS<300 MiB"
    return None, ""
