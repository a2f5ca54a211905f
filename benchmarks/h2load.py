"""Runs nghttp2's h2load with a hard time bound and parses its summary.

Why this module exists: h2load is the load generator for every scenario but M7 (it is C,
single-threaded with -t 1, and speaks h2, h2c prior knowledge and HTTP/1.1), so its text report
must be turned into numbers (req/s, bytes, succeeded/failed/errored, status classes, request
latencies) in one place. A run that overstays its bound is killed and reported as an error.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_TIME = r"([\d.]+)(us|ms|s)"


@dataclass
class H2LoadResult:
    ok: bool = False
    error: str = ""
    elapsed_s: float = 0.0
    req_per_s: float = 0.0
    total: int = 0
    started: int = 0
    done: int = 0
    succeeded: int = 0
    failed: int = 0
    errored: int = 0
    timeout: int = 0
    status_2xx: int = 0
    status_other: int = 0
    data_bytes: int = 0  # response body bytes received
    req_min_s: float = 0.0
    req_max_s: float = 0.0
    req_mean_s: float = 0.0
    ttfb_mean_s: float = 0.0
    ttfb_max_s: float = 0.0  # h2load's "time to 1st byte" is per connection: the slowest one
    note: str = ""
    argv: list = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Requests not ending in a 2xx response (those cut off by the end of -D not counted)."""
        return self.failed + self.errored + self.timeout + self.status_other

    def to_dict(self) -> dict:
        return asdict(self)


def _seconds(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse(text: str, h1: bool = False) -> H2LoadResult:
    """Parse h2load's stdout into an H2LoadResult (ok=False with a reason if it has no summary).

    h2load's HTTP/1 parser records no status at all when the status line has an empty reason
    phrase ("HTTP/1.1 200 ", as hypercorn sends) and then counts the request as failed; with
    --h1 and not a single status recorded, completed requests are counted as succeeded and the
    result carries a note saying so.
    """
    r = H2LoadResult()
    m = re.search(r"finished in " + _TIME + r", ([\d.]+) req/s", text)
    if not m:
        r.error = "no h2load summary: " + " | ".join(text.strip().splitlines()[-3:])
        return r
    r.elapsed_s, r.req_per_s = _seconds(m.group(1), m.group(2)), float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        (r.total, r.started, r.done, r.succeeded, r.failed, r.errored,
         r.timeout) = map(int, m.groups())
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if m:
        r.status_2xx = int(m.group(1))
        r.status_other = sum(int(g) for g in m.groups()[1:])
    m = re.search(r"traffic: .*?, [\d.]+\w*B \((\d+)\) data", text)
    if m:
        r.data_bytes = int(m.group(1))
    m = re.search(r"time for request:\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME, text)
    if m:
        g = m.groups()
        r.req_min_s, r.req_max_s, r.req_mean_s = (_seconds(g[0], g[1]), _seconds(g[2], g[3]),
                                                  _seconds(g[4], g[5]))
    m = re.search(r"time to 1st byte:\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME, text)
    if m:
        r.ttfb_max_s, r.ttfb_mean_s = (_seconds(m.group(3), m.group(4)),
                                       _seconds(m.group(5), m.group(6)))
    if h1 and r.done and not r.succeeded and r.status_2xx + r.status_other == 0:
        r.succeeded, r.failed, r.status_2xx = r.done, max(0, r.failed - r.done), r.done
        r.note = "h2load read no HTTP/1 status (empty reason phrase): 'done' taken as 2xx"
    r.ok = r.succeeded > 0
    if not r.ok:
        r.error = "no request succeeded"
    return r


def run(url: str, clients: int, streams: int, requests: int | None = None,
        duration: float | None = None, warmup: float = 0.0, h1: bool = False,
        data_file: str | None = None, timeout: float = 60.0,
        log_file: str | None = None) -> H2LoadResult:
    """One h2load run on one thread: `-n requests` or `-D duration` (then `timeout` is extended)."""
    argv = ["h2load", "-t", "1", "-c", str(clients), "-m", str(streams)]
    if duration is not None:
        argv += ["-D", str(max(1, round(duration)))]  # h2load takes whole seconds
        if warmup:
            argv += ["--warm-up-time", str(max(1, round(warmup)))]
        timeout = max(timeout, duration + warmup + 30)
    else:
        argv += ["-n", str(requests if requests is not None else clients * streams)]
    if h1:
        argv.append("--h1")
    if data_file:
        argv += ["-d", data_file]
    if log_file:  # per request: start (us since epoch), status, duration (us)
        argv.append(f"--log-file={log_file}")
    argv.append(url)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:  # subprocess.run kills the child on expiry
        r = H2LoadResult(error=f"h2load overran its {timeout:.0f}s bound", argv=argv)
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        r.total = len(re.findall(r"progress", out))
        return r
    r = parse(proc.stdout, h1)
    r.argv = argv
    if not r.ok and proc.stderr.strip():
        r.error += " | " + proc.stderr.strip().splitlines()[-1]
    return r


def ready_check(url: str) -> str | None:
    """One h2load request (h2 over TLS, h2c prior knowledge over http); None when it got a 2xx."""
    r = run(url, 1, 1, requests=1, timeout=10)
    if r.ok and r.status_2xx == 1:
        return None
    return r.error or f"status not 2xx ({r.status_other} other)"


def version() -> str:
    path = shutil.which("h2load")
    if not path:
        return "missing"
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return out.strip() or "unknown"
