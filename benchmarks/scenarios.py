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
    metric: str = "req/s"  # req/s | MiB/s | wall s | sse | burst
    ready_path: str = "/"
    timeout: float = 60.0
    database: bool = False  # needs examples/django's PostgreSQL (benchmarks/django_db.py)
    servers: tuple = ()  # the only servers it runs (empty: all selected)


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
    Scenario("M8", "handler blocking in C (sha256 of 8 MiB), TLS, -c 8 -m 1", "hashwork",
             clients=8, streams=1),
    Scenario("D1", "Django + PostgreSQL, 50 ms in the database, h2c, -c 10 -m 100 -n 1000",
             "django_dbwait", tls=False, clients=10, streams=100, requests=1000, timed=False,
             timeout=120.0, database=True),
    # Issue 18's named scenarios.
    Scenario("flask-json", "Flask JSON API (jsonify of 20 items), TLS, -c 50 -m 10",
             "benchmarks.flask_json:app"),
    Scenario("burst", "start-up burst: -c 100 -m 100 -n 10000 on SSE (3 events 1 s apart), TLS",
             "sse_burst", clients=100, streams=100, requests=10000, timed=False,
             metric="burst", timeout=120.0, servers=("greenh2", "greenh2-alt", "granian")),
]
# Scenarios whose load is the same as M1's, for the --threads target (issue 12).
THREADS_SERVER = "greenh2-threads"
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


def _ratio(row: dict, other: dict | None, lower_is_better: bool = False) -> float | None:
    if not other or not other.get("value") or row.get("value") is None:
        return None
    if lower_is_better:
        return other["value"] / row["value"] if row["value"] else None
    return row["value"] / other["value"]


def target(key: str, per_server: dict, ceiling: float | None = None) -> tuple:
    """(passed or None when it cannot be judged, text of the target) for greenh2 in scenario
    `key`; `per_server` maps server names to summaries (see run.summarize). Issue 12's targets:
    ratios against gunicorn's gevent worker (the baseline) and against Granian."""
    row = per_server.get("greenh2") or {}
    if not row or row.get("error") or row.get("value") is None:
        return None, "no result"
    base, granian = per_server.get("gunicorn"), per_server.get("granian")
    lower = key == "M3b"
    x_base, x_gran = _ratio(row, base, lower), _ratio(row, granian, lower)

    def judge(checks: list, text: str) -> tuple:
        return (None if any(c is None for c in checks) else all(checks)), text

    if key in ("M1", "M2"):
        spread = row["max_s"] <= 5 * row["mean_s"] if row.get("mean_s") and row.get("max_s") else None
        return judge([None if x_base is None else x_base >= 2.5,
                      None if x_gran is None else x_gran >= 0.35, spread],
                     ">=2.5x gunicorn, >=35% of Granian, max<=5x mean")
    if key == "M3":
        return judge([None if x_base is None else x_base >= 40,
                      None if x_gran is None else x_gran >= 1.0], ">=40x gunicorn, >=1x Granian")
    if key == "M3b":
        return (row["value"] < 0.08 and not row.get("errors")), "< 0.08 s"
    if key in ("M4", "M5"):
        return judge([None if x_base is None else x_base >= 3,
                      None if x_gran is None else x_gran >= 0.8], ">=3x gunicorn, >=80% of Granian")
    if key == "M6":
        return judge([None if x_base is None else x_base >= 1.0], ">=1x gunicorn")
    if key == "M7":
        p99, first = row.get("gap_p99_ms"), row.get("first_p99_ms")
        ok = (row.get("completed") == row.get("streams") and p99 is not None and p99 < 250
              and first is not None and first < 1000 and row.get("rss_mib", 1e9) < 200)
        return ok, "all complete, gap p99<250 ms, first-event p99<1 s, RSS<200 MiB"
    if key == "flask-json":  # issue 18
        return judge([None if x_base is None else x_base >= 2.0,
                      None if x_gran is None else x_gran >= 1.0], ">=2x gunicorn, >=1x Granian")
    if key == "burst":  # issue 18: value = the slowest stream (ideal 2.0 s)
        ok = (row.get("succeeded") == 10000 and row.get("ttfb_max_s") is not None
              and row["ttfb_max_s"] <= 1.5 and row["value"] <= 3.5)
        return ok, "10,000 done, first byte <= 1.5 s, slowest stream <= 3.5 s"
    if key == "D1":  # issue 17: every request answered, and the waits overlap
        return judge([not row.get("errors"), None if x_base is None else x_base >= 1.0],
                     "no errors, >=1x gunicorn")
    if key == "M8":
        threads = per_server.get(THREADS_SERVER)
        x = _ratio(threads, row) if threads else None
        return (None if x is None else x > 1.0), "--threads 8 beats greenlet mode"
    return None, ""


def threads_target(per_server: dict) -> tuple:
    """M1: greenh2 --threads 8 at >= 75 % of greenlet mode's rate (issue 12)."""
    row, threads = per_server.get("greenh2"), per_server.get(THREADS_SERVER)
    x = _ratio(threads, row) if threads and row else None
    return (None if x is None else x >= 0.75), x
