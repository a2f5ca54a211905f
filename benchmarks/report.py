"""Turns summarized results into the markdown tables, results.json and RESULTS.md.

Why this module exists: the numbers are only useful if every run presents them the same way:
one row per scenario and one column per server with the ratio to the gunicorn gevent baseline,
greenh2's pass/fail against issue 5's targets, a details table (errors, mean/max latency, peak
RSS, every repetition), the sans-IO ceiling, and the machine the run happened on.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata

from benchmarks import h2load
from benchmarks.scenarios import BY_KEY, target
from benchmarks.servers import BASELINE, SERVERS

PACKAGES = ["gunicorn", "gevent", "h2", "hypercorn", "uvloop", "granian", "greenh2", "django", "psycopg"]


def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=os.path.dirname(os.path.dirname(__file__))
                                ).stdout.strip()
    except OSError:
        commit = ""
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "loadavg_at_start": list(os.getloadavg()),
            "packages": versions, "h2load": h2load.version(), "git_commit": commit}


def _fmt_value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "req/s":
        return f"{v:,.0f} req/s"
    if metric == "MiB/s":
        return f"{v:,.1f} MiB/s"
    if metric in ("wall s", "burst"):
        return f"{v:.3f} s"
    return f"{v:.0f} ms"


def _ms(v: float | None) -> str:
    return "-" if v is None else (f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s")


def _cell(key: str, row: dict | None, base: dict | None) -> str:
    if row is None:
        return "n/a"
    if row.get("error") and row.get("value") is None:
        return "ERROR"
    metric = BY_KEY[key].metric
    if metric == "sse":
        text = (f"{row.get('completed', 0):,}/{row.get('streams', 0):,} done, "
                f"gap p99 {_fmt_value('sse', row.get('gap_p99_ms'))}")
    elif metric == "burst":
        text = (f"{row.get('succeeded', 0):,} done, first byte max {_ms(row.get('ttfb_max_s'))}, "
                f"slowest stream {_ms(row.get('value'))}")
    else:
        text = _fmt_value(metric, row.get("value"))
        r = ratio(key, row, base)
        if r is not None:
            text += f" ({r:.2f}x)"
    if row.get("errors"):
        text += f" [{row['errors']:,} err]"
    return text


def ratio(key: str, row: dict | None, base: dict | None) -> float | None:
    """How many times better than gunicorn (for wall time: gunicorn's time / this time)."""
    if not row or not base or row.get("value") is None or not base.get("value"):
        return None
    if BY_KEY[key].metric in ("sse", "burst"):
        return None
    if BY_KEY[key].metric == "wall s":
        return base["value"] / row["value"] if row["value"] else None
    return row["value"] / base["value"]


def tables(results: dict, servers: list, ceiling: dict | None) -> str:
    """The main table (scenario x server), the details table and the ceiling line."""
    ceil = ceiling.get("req_per_s") if ceiling else None
    head = ["Scenario"] + [SERVERS[s].label for s in servers]
    show_target = "greenh2" in servers
    if show_target:
        head += ["greenh2 target", "pass"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, per_server in results.items():
        base = per_server.get(BASELINE)
        cells = [f"**{key}** {BY_KEY[key].title}"]
        cells += [_cell(key, per_server.get(s), base) for s in servers]
        if show_target:
            ok, text = target(key, per_server, ceil)
            cells += [text, {True: "PASS", False: "FAIL", None: "n/a"}[ok]]
        lines.append("| " + " | ".join(cells) + " |")
    out = ["\n".join(lines), ""]
    if ceiling:
        g = {k: (results.get(k, {}).get("greenh2") or {}).get("value") for k in ("M1", "M2")}
        srv = ceiling.get("server_req_per_s")
        share = ", ".join(f"{k} = {v / ceil * 100:.0f}%" + (f" ({v / srv * 100:.0f}% of the "
                          "server-side part)" if srv else "")
                          for k, v in g.items() if v and ceil)
        out.append(f"sans-IO h2 ceiling (benchmarks/ceiling.py, in-memory h2 client + server "
                   f"connections on one core, hello mix of M1): **{ceil:,.0f} req/s**"
                   + (f"; the server connection's calls alone: {srv:,.0f} req/s" if srv else "")
                   + (f". greenh2: {share}." if share else "."))
        out.append("")
    out += ["Details (medians over repetitions; errors summed; max latency and RSS are maxima):",
            "", "| Scenario | Server | value | x gunicorn | errors | mean latency | "
            "max latency | max/mean | peak RSS | repetitions / notes |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for key, per_server in results.items():
        base = per_server.get(BASELINE)
        for s in servers:
            row = per_server.get(s)
            if row is None:
                out.append(f"| {key} | {s} | n/a | | | | | | | not supported |")
                continue
            r = ratio(key, row, base)
            mean, mx = row.get("mean_s"), row.get("max_s")
            spread = f"{mx / mean:.1f}" if mean and mx else "-"
            notes = [", ".join(_fmt_value(BY_KEY[key].metric, v) for v in row.get("reps", []))]
            if BY_KEY[key].metric == "sse":
                mean, mx, spread = None, None, "-"
                notes = [] if row.get("streams") is None else [
                    f"failed {row.get('failed', 0)}, unfinished {row.get('unfinished', 0)}, "
                    f"gap p50 {row.get('gap_p50_ms')} ms, first-event p99 "
                    f"{row.get('first_p99_ms')} ms, took {row.get('elapsed_s')} s, "
                    f"client CPU {row.get('client_cpu_s')} s"]
            notes.append(row.get("note") or "")
            if row.get("error"):
                notes.append("ERROR: " + row["error"].replace("|", "/").replace("\n", " ")[:200])
            notes = "; ".join(n for n in notes if n)
            rss = f"{row['rss_mib']:.0f} MiB" if row.get("rss_mib") else "-"
            out.append(f"| {key} | {s} | {_fmt_value(BY_KEY[key].metric, row.get('value'))} | "
                       f"{'-' if r is None else f'{r:.2f}'} | {row.get('errors', 0):,} | "
                       f"{_ms(mean)} | {_ms(mx)} | {spread} | {rss} | {notes} |")
    return "\n".join(out) + "\n"


def targets_table(results: dict) -> str:
    """Issue 12's targets for greenh2: ratio to gunicorn and to Granian per scenario, met or
    missed, and the --threads ratio to greenlet mode."""
    from benchmarks.scenarios import threads_target
    out = ["", "Targets (issue 12) for greenh2:", "",
           "| Scenario | greenh2 | x gunicorn | x Granian | target | met? |", "|---|---|---|---|---|---|"]
    for key, per in results.items():
        row = per.get("greenh2") or {}
        ok, text = target(key, per, None)
        lower = BY_KEY[key].metric == "wall s"
        xb = ratio(key, row, per.get(BASELINE))
        xg = None if BY_KEY[key].metric in ("sse", "burst") else _vs(row, per.get("granian"), lower)
        value = _cell(key, row, None) if row else "-"
        out.append(f"| {key} | {value} | {'-' if xb is None else f'{xb:.2f}x'} | "
                   f"{'-' if xg is None else f'{xg * 100:.0f} %'} | {text} | "
                   f"{ {True: 'met', False: 'MISSED', None: 'n/a'}[ok] } |")
        if key == "M1" and per.get("greenh2-threads"):
            tok, x = threads_target(per)
            out.append(f"| M1 --threads 8 | {_cell(key, per['greenh2-threads'], None)} | | | "
                       f"{'-' if x is None else f'{x * 100:.0f} %'} of greenlet mode, target >= 75 % | "
                       f"{ {True: 'met', False: 'MISSED', None: 'n/a'}[tok] } |")
    return "\n".join(out) + "\n"


def _vs(row: dict, other: dict | None, lower: bool) -> float | None:
    if not other or not other.get("value") or not row or row.get("value") is None:
        return None
    return other["value"] / row["value"] if lower else row["value"] / other["value"]


def pictures(charts: list, prof: dict) -> str:
    """Markdown for the charts and the M2 profile (flame graph + share table)."""
    out = [""]
    if charts:
        out += ["## Charts", ""] + [f"![{os.path.basename(c)}]({c})" for c in charts] + [""]
    if prof.get("svg"):
        out += ["## Where greenh2's time goes (M2, py-spy, this run)", "",
                f"Flame graph: [{prof['svg']}]({prof['svg']}) (open it in a browser to zoom).", "",
                f"![flame graph]({prof['svg']})", "", prof["table"], ""]
    elif prof.get("error"):
        out += [f"Profile skipped: {prof['error']}", ""]
    return "\n".join(out)


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=False)
        f.write("\n")


def write_results_md(path: str, body: str, info: dict, command: str, mode: str,
                     when: str) -> None:
    pk = info["packages"]
    lines = [
        "# greenh2 benchmark results", "",
        f"Written by `{command}` ({mode} mode) on {when}; regenerate with "
        "`python3 benchmarks/run.py` (see benchmarks/README.md). Quick-mode numbers are a smoke "
        "test, not a measurement.", "",
        body,
        "## Machine", "",
        f"- nproc: {info['nproc']}; CPU: {info['cpu']}; kernel {info['kernel']}; "
        f"load average at start: {', '.join(f'{x:.2f}' for x in info['loadavg_at_start'])}",
        f"- Python {info['python']}; h2load: {info['h2load']}; greenh2 commit "
        f"{info.get('git_commit') or '?'}",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in pk.items()),
        "- every server: one process/worker on 127.0.0.1, same apps (benchmarks/apps.py), same "
        "self-signed ECDSA P-256 certificate; the load client shares the same 2 cores.", "",
    ]
    notes = _kept_notes(path)
    with open(path, "w") as f:
        f.write("\n".join(lines) + notes)


NOTES_MARKER = "<!-- notes below are kept when the tables above are regenerated -->"


def _kept_notes(path: str) -> str:
    """The hand-written part of RESULTS.md (profiles, before/after of changes) survives runs."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    pos = text.find(NOTES_MARKER)
    return "\n" + text[pos:] if pos >= 0 else ""
