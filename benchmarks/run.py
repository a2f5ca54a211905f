#!/usr/bin/env python3
"""The one command of the benchmark: `python3 benchmarks/run.py [--quick] [options]`.

Why this module exists: it is the entry point and the orchestration. It re-executes itself
inside benchmarks/.venv (made by bootstrap.py), measures the sans-IO ceiling, then for each
scenario starts every selected server (one process each, 127.0.0.1, free port), runs the load
in interleaved repetitions (A B C D A B C D ...) while sampling each server's RSS, stops the
servers (always: also on Ctrl-C, SIGTERM or an exception), and hands medians to report.py.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json as jsonlib
import os
import signal
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(HERE))

from benchmarks import bootstrap  # noqa: E402  (stdlib only; everything else needs the venv)

OUT = os.path.join(HERE, "out")
LOGS = os.path.join(OUT, "logs")
LATENCY = os.path.join(OUT, "latency")  # h2load --log-file of each server's first repetition
BODY_BYTES = 1 << 20  # M4 download size (benchmarks.apps default) and M5 upload file size


def parse_args(argv: list | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="greenh2 vs gunicorn/hypercorn/granian (issue 5)")
    p.add_argument("--quick", action="store_true", help="1 s runs, 1 repetition, small M7")
    p.add_argument("--only", default="", help="comma-separated servers (gunicorn,hypercorn,"
                   "granian,greenh2); default: all")
    p.add_argument("--scenarios", default="", help="comma-separated keys, e.g. M1,M3; "
                   "default: all")
    p.add_argument("--reps", type=int, default=None, help="repetitions (full: 3, quick: 1)")
    p.add_argument("--m7-reps", type=int, default=1, help="repetitions of M7 (default 1)")
    p.add_argument("--m7-streams", type=int, default=None, help="M7 streams (full: 10000, "
                   "quick: 500), 100 per connection")
    p.add_argument("--duration", type=float, default=None, help="h2load -D seconds")
    p.add_argument("--json", default=os.path.join(OUT, "results.json"), help="JSON output")
    p.add_argument("--results-md", default=os.path.join(HERE, "RESULTS.md"),
                   help="markdown report to write ('' to skip)")
    p.add_argument("--reinstall", action="store_true", help="upgrade the venv's packages")
    p.add_argument("--metrics-cost", action="store_true", help="only the A/B cost of "
                   "--metrics-bind (benchmarks/metrics_cost.py)")
    p.add_argument("--no-profile", action="store_true", help="skip the py-spy flame graph and "
                   "profile table of greenh2 under M2")
    p.add_argument("--no-charts", action="store_true", help="skip the matplotlib charts")
    p.add_argument("--chart-prefix", default="chart", help="chart file names: "
                   "<prefix>-throughput.png, ... (default: chart)")
    p.add_argument("--no-venv", action="store_true", help="run with this interpreter's "
                   "packages instead of benchmarks/.venv (gunicorn, granian, flask, psutil, "
                   "matplotlib must be installed)")
    return p.parse_args(argv)


def measure(sc, url: str, mode, args: argparse.Namespace, upload_file: str,
            latency_log: str | None = None) -> dict:
    """One repetition of scenario `sc` against `url`; a flat record."""
    from benchmarks import h2load
    from benchmarks.scenarios import m7_shape

    if sc.metric == "sse":
        conns, per_conn = m7_shape(args.m7_streams or mode.m7_streams)
        deadline = 5.0 + mode.m7_grace
        argv = [sys.executable, "-m", "benchmarks.sse_client", url + "/", "--connections",
                str(conns), "--streams", str(per_conn), "--deadline", str(deadline)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=deadline + 60)
            rec = jsonlib.loads(proc.stdout)
        except (subprocess.TimeoutExpired, ValueError) as exc:
            return {"value": None, "error": f"sse_client: {exc}", "errors": 0}
        rec["value"] = rec["gap_p99_ms"]
        rec["errors"] = rec["failed"] + rec["unfinished"]
        rec["error"] = "; ".join(rec.pop("errors_seen", []))
        return rec
    r = h2load.run(url + "/", sc.clients, sc.streams,
                   requests=None if sc.timed else sc.requests,
                   duration=(args.duration or mode.duration) if sc.timed else None,
                   warmup=mode.warmup if sc.timed else 0.0, h1=sc.h1,
                   data_file=upload_file if sc.upload else None, timeout=sc.timeout,
                   log_file=latency_log)
    value: float | None = None
    if r.ok:
        if sc.metric == "req/s":
            value = r.req_per_s
        elif sc.metric == "burst":  # the slowest stream; ideal 2.0 s (3 events 1 s apart)
            value = r.req_max_s
        elif sc.metric == "MiB/s":  # every request moves one 1 MiB body (h2load's byte
            value = r.req_per_s * BODY_BYTES / 2**20  # and time totals include the warm-up)
        else:
            value = r.elapsed_s
    return {"value": value, "error": r.error, "errors": r.errors, "succeeded": r.succeeded,
            "elapsed_s": r.elapsed_s, "mean_s": r.req_mean_s, "max_s": r.req_max_s,
            "req_per_s": r.req_per_s, "data_bytes": r.data_bytes, "note": r.note,
            "ttfb_max_s": r.ttfb_max_s, "ttfb_mean_s": r.ttfb_mean_s,
            "argv": " ".join(r.argv)}


def summarize(sc, runs: list, start_error: str) -> dict:
    """Median value and latency over repetitions, summed errors, max latency and RSS."""
    if start_error:
        return {"value": None, "error": start_error, "errors": 0, "reps": []}
    vals = [r["value"] for r in runs if r.get("value") is not None]
    out: dict = {"value": statistics.median(vals) if vals else None, "reps": vals,
                 "errors": sum(r.get("errors", 0) for r in runs),
                 "rss_mib": max((r.get("rss", 0) for r in runs), default=0) / 2**20,
                 "error": "; ".join(sorted({r["error"] for r in runs if r.get("error")})),
                 "note": "; ".join(sorted({r["note"] for r in runs if r.get("note")}))}
    means = [r["mean_s"] for r in runs if r.get("mean_s")]
    out["mean_s"] = statistics.median(means) if means else None
    out["max_s"] = max((r.get("max_s") or 0 for r in runs), default=None) or None
    if sc.metric == "burst" and runs:  # one repetition by default: its worst case
        out["succeeded"] = min(r.get("succeeded", 0) for r in runs)
        out["ttfb_max_s"] = max((r.get("ttfb_max_s") or 0 for r in runs), default=None)
    if sc.metric == "sse" and runs:
        rep = sorted(runs, key=lambda r: (r.get("value") is None, r.get("value") or 0))
        mid = rep[(len(rep) - 1) // 2] if vals else runs[0]
        for k in ("streams", "completed", "failed", "unfinished", "gap_p50_ms", "gap_p99_ms",
                  "gap_max_ms", "first_p50_ms", "first_p99_ms", "elapsed_s", "client_cpu_s",
                  "gap_hist_ms", "first_hist_ms"):
            out[k] = mid.get(k)
        out["completed"] = min(r.get("completed", 0) for r in runs)
    return out


def _db_sampler(sc, db, name: str):
    """D1: count the PostgreSQL connections the server holds during the load."""
    from benchmarks import django_db
    return django_db.peak_connections(db, name) if sc.database and db else contextlib.nullcontext()


def run_scenario(sc, names: list, mode, args, cert, upload_file: str, active: list,
                 db=None) -> tuple:
    """Start every server for `sc`, run interleaved repetitions, stop them; (summaries, runs).
    `db`: the PostgreSQL cluster of scenarios that need one (benchmarks/django_db.py)."""
    from benchmarks import django_db, h2load, servers

    started: dict = {}
    start_errors: dict = {name: "" for name in names}
    summaries: dict = {}
    for name in names:
        log = os.path.join(LOGS, f"{sc.key}-{name}.log")
        if ((servers.SERVERS[name].only and sc.key not in servers.SERVERS[name].only)
                or (sc.servers and name not in sc.servers)):
            summaries[name] = None  # a variant measured only where it answers a question
            continue
        try:
            r = servers.start(servers.SERVERS[name], sc.app, cert if sc.tls else None, log,
                              ready_path=sc.ready_path, ready_check=h2load.ready_check,
                              extra_env=django_db.server_env(name) if sc.database else None)
        except servers.ServerError as exc:
            first = str(exc).splitlines()[0]
            start_errors[name] = f"start failed: {first} (log: {os.path.relpath(log, HERE)})"
            print(f"  {name}: START FAILED ({first}); log: {log}", flush=True)
            continue
        if r is None:
            summaries[name] = None
            print(f"  {name}: n/a for {sc.key}", flush=True)
            continue
        started[name] = r
        active.append(r)
    runs: dict = {name: [] for name in names}
    reps = max(1, args.m7_reps if sc.metric in ("sse", "burst") else (args.reps or mode.reps))
    try:
        for rep in range(reps):
            for name, r in started.items():
                if r.proc.poll() is not None:
                    runs[name].append({"value": None, "errors": 0, "error":
                                       f"server exited ({r.proc.returncode}): {r.log_tail(3)}"})
                    continue
                latency_log = os.path.join(LATENCY, f"{sc.key}-{name}.tsv") if rep == 0 else None
                with servers.RssSampler(r.proc.pid) as sampler, _db_sampler(sc, db, name) as pg:
                    rec = measure(sc, r.url, mode, args, upload_file, latency_log)
                rec["rss"] = sampler.peak
                if pg is not None:
                    rec["note"] = f"peak {pg.peak} PostgreSQL connections"
                runs[name].append(rec)
                v = rec.get("value")
                print(f"  {sc.key} rep {rep + 1}/{reps} {name:9s} "
                      f"{'ERROR' if v is None else f'{v:,.3f}'} {sc.metric}  errors="
                      f"{rec.get('errors', 0)}  rss={rec['rss'] / 2**20:.0f} MiB"
                      + (f"  ({rec['error'][:120]})" if rec.get("error") else ""), flush=True)
    finally:
        for r in started.values():
            r.stop()
            active.remove(r)
    for name in names:
        if name not in summaries:
            summaries[name] = summarize(sc, runs[name], start_errors[name])
    return summaries, runs


def profile_m2(mode, seconds: float) -> dict:
    """greenh2 under M2's load while py-spy samples it: flame graph + share table (profile.py)."""
    from benchmarks import h2load, profile, servers

    svg, raw = os.path.join(HERE, "flame-m2.svg"), os.path.join(OUT, "profile-m2.txt")
    r = servers.start(servers.SERVERS["greenh2"], "hello", None, os.path.join(LOGS, "profile.log"),
                      ready_check=h2load.ready_check)
    load = subprocess.Popen(["h2load", "-t", "1", "-c", "50", "-m", "10", "-D",
                             str(int(2 * seconds + 10)), r.url + "/"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        error = profile.record(r.proc.pid, seconds, svg, raw)
    finally:
        load.kill()
        load.wait()
        r.stop()
    if error:
        print(f"bench: profile skipped: {error}", flush=True)
        return {"error": error}
    return {"svg": os.path.relpath(svg, HERE), "table": profile.table(raw)}


def main(argv: list | None = None) -> int:
    args = parse_args(argv)
    if args.metrics_cost:  # greenh2 alone, from this checkout: no venv needed
        from benchmarks import metrics_cost
        return metrics_cost.main(["--quick"] if args.quick else [])
    if not bootstrap.in_venv() and not args.no_venv:
        bootstrap.reexec_in_venv(sys.argv[1:] if argv is None else argv, LOGS, args.reinstall)
    from benchmarks import ceiling, report
    from benchmarks.certs import make_cert
    from benchmarks.scenarios import FULL, QUICK, SCENARIOS, target
    from benchmarks.servers import SERVERS

    mode = QUICK if args.quick else FULL
    names = [n for n in (args.only.split(",") if args.only else SERVERS) if n]
    keys = [k for k in (args.scenarios.split(",") if args.scenarios else []) if k]
    unknown = [n for n in names if n not in SERVERS]
    unknown += [k for k in keys if k not in {s.key for s in SCENARIOS} | {"WS"}]
    if unknown:
        raise SystemExit(f"unknown server/scenario: {', '.join(unknown)}")
    scenarios = [s for s in SCENARIOS if not keys or s.key in keys]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind the finally blocks
    os.makedirs(LOGS, exist_ok=True)
    os.makedirs(LATENCY, exist_ok=True)
    cert = make_cert(os.path.join(OUT, "certs"))
    upload_file = os.path.join(OUT, "upload-1MiB.bin")
    with open(upload_file, "wb") as f:
        f.write(os.urandom(BODY_BYTES))
    command = "python3 benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    info = report.machine_info()
    print(f"bench: {mode.name} mode, servers {','.join(names)}, scenarios "
          f"{','.join(s.key for s in scenarios)}; logs in {LOGS}", flush=True)
    ceil = ceiling.measure(mode.ceiling_seconds)
    print(f"bench: sans-IO ceiling {ceil['req_per_s']:,.0f} req/s", flush=True)
    results: dict = {}
    raw: dict = {}
    active: list = []
    try:
        with contextlib.ExitStack() as stack:
            db = None
            if any(sc.database for sc in scenarios):
                from benchmarks import django_db
                runnable = [n for n in names if not SERVERS[n].only]  # what D1 starts at once
                try:
                    db = stack.enter_context(django_db.database(len(runnable)))
                except (AssertionError, OSError, subprocess.SubprocessError, RuntimeError) as exc:
                    print(f"bench: no PostgreSQL, database scenarios left out: {exc}", flush=True)
                    scenarios = [sc for sc in scenarios if not sc.database]
            for sc in scenarios:
                print(f"bench: {sc.key}: {sc.title}", flush=True)
                results[sc.key], raw[sc.key] = run_scenario(sc, names, mode, args, cert,
                                                            upload_file, active, db)
    except KeyboardInterrupt:
        print("bench: interrupted; reporting what was measured", flush=True)
    finally:
        for r in list(active):
            r.stop()
    prof: dict = {}
    if "greenh2" in names and scenarios and not args.no_profile:
        print("bench: profile of greenh2 under M2 (py-spy)", flush=True)
        prof = profile_m2(mode, 5.0 if args.quick else 10.0)
    charts: list = []
    if scenarios and not args.no_charts:
        from benchmarks import charts as charts_mod
        charts = [os.path.relpath(p, HERE) for p in charts_mod.draw_all(results, names, LATENCY, HERE,
                                                                                  args.chart_prefix)]
    body = report.tables(results, names, ceil) + report.targets_table(results) if scenarios else ""
    ws_results = None
    if not keys or "WS" in keys:  # WebSocket echo: benchmarks/ws_echo.py owns the scenario
        from benchmarks import ws_echo
        ws_table, ws_results = ws_echo.run(args.quick, args.reps or mode.reps, names, cert, LOGS)
        body += "\n" + ws_table
    body += report.pictures(charts, prof)
    targets = {}
    for key, per in results.items():
        ok, text = target(key, per, ceil["req_per_s"])
        targets[key] = {"pass": ok, "target": text}
    report.write_json(args.json, {"command": command, "mode": mode.name, "when": when,
                                  "machine": info, "ceiling": ceil, "servers": names,
                                  "results": results, "targets": targets, "runs": raw,
                                  "ws_echo": ws_results, "charts": charts, "profile": prof})
    if args.results_md:
        report.write_results_md(args.results_md, body, info, command.strip(), mode.name, when)
    print()
    print(body)
    print(f"bench: JSON in {args.json}" + (f", report in {args.results_md}"
                                          if args.results_md else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
