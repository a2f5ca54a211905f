"""The report's pictures: matplotlib PNGs written next to RESULTS.md.

Why this module exists: a reader should take in the comparison at a glance, so the numbers the
run measured are drawn the same way every time: throughput per scenario and server (one small
bar chart per scenario, since units differ), the distribution of request latencies (h2load's
per-request log of each server's first repetition, as a CDF), and M7's inter-event gaps and
first-event delays (histograms from the SSE client). Each function returns the file it wrote,
or None when there was nothing to draw.
"""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from benchmarks.scenarios import BY_KEY
from benchmarks.servers import SERVERS

COLORS = {"gunicorn": "#999999", "hypercorn": "#c49c3c", "granian": "#4c72b0",
          "greenh2": "#2ca02c", "greenh2-threads": "#98df8a",
          "greenh2-alt": "#d62728"}


def throughput(results: dict, servers: list, path: str) -> str | None:
    keys = [k for k in results if BY_KEY[k].metric != "sse"]
    if not keys:
        return None
    cols = 4
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        names = [s for s in servers if (results[key].get(s) or {}).get("value") is not None]
        values = [results[key][s]["value"] for s in names]
        ax.bar(range(len(names)), values, color=[COLORS.get(s, "#333") for s in names])
        ax.set_xticks(range(len(names)), [SERVERS[s].label.split(" (")[0] for s in names],
                      rotation=30, ha="right", fontsize=8)
        metric = BY_KEY[key].metric
        ax.set_title(f"{key}: {BY_KEY[key].title[:38]}", fontsize=9)
        if metric == "burst":
            metric = "slowest stream, s"
        ax.set_ylabel(metric + (" (lower is better)" if metric in ("wall s", "slowest stream, s")
                                else ""), fontsize=8)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:,.3g}" if v < 100 else f"{v:,.0f}", ha="center", va="bottom",
                    fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _durations_ms(tsv: str) -> list:
    out = []
    with open(tsv) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1].startswith("2"):
                out.append(int(parts[2]) / 1000.0)
    return sorted(out)


def latency(latency_dir: str, keys: list, servers: list, path: str) -> str | None:
    """CDF of per-request latency (h2load --log-file) per scenario, one line per server."""
    panels = []
    for key in keys:
        lines = {s: os.path.join(latency_dir, f"{key}-{s}.tsv") for s in servers}
        lines = {s: p for s, p in lines.items() if os.path.exists(p)}
        if lines:
            panels.append((key, lines))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for ax, (key, lines) in zip(axes.flat, panels, strict=False):
        for server, tsv in lines.items():
            d = _durations_ms(tsv)
            if d:
                ax.plot(d, [(i + 1) / len(d) for i in range(len(d))], label=server,
                        color=COLORS.get(server, "#333"))
        ax.set_xscale("log")
        ax.set_title(f"{key} request latency (CDF)", fontsize=9)
        ax.set_xlabel("ms (log scale)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def m7_gaps(per_server: dict, path: str) -> str | None:
    """M7: histograms of the gap between consecutive events (ideal 100 ms) and of the time to
    the first event, per server."""
    rows = {s: r for s, r in per_server.items() if r and r.get("gap_hist_ms")}
    if not rows:
        return None
    fig, (gap_ax, first_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
    for server, row in rows.items():
        for ax, hist, width in ((gap_ax, row["gap_hist_ms"], 5),
                                (first_ax, row.get("first_hist_ms") or [], 50)):
            if hist:
                counts = dict((b, c) for b, c in hist)
                edges = list(range(hist[0][0], hist[-1][0] + 2 * width, width))
                ys = [counts.get(b, 0) or float("nan") for b in edges[:-1]]  # empty: a gap
                ax.stairs(ys, edges, label=server, color=COLORS.get(server, "#333"))
    gap_ax.set_title("M7 gap between events (5 ms buckets)", fontsize=9)
    gap_ax.set_xlabel("ms", fontsize=8)
    gap_ax.set_yscale("log", nonpositive="mask")
    gap_ax.axvline(250, color="red", lw=0.8, ls="--")
    first_ax.set_title("M7 time to first event (50 ms buckets)", fontsize=9)
    first_ax.set_xlabel("ms", fontsize=8)
    first_ax.set_yscale("log", nonpositive="mask")
    first_ax.axvline(1000, color="red", lw=0.8, ls="--")
    for ax in (gap_ax, first_ax):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def draw_all(results: dict, servers: list, latency_dir: str, out_dir: str,
             prefix: str = "chart") -> list:
    """Every chart the results allow; the paths written (`prefix`-throughput.png, ...)."""
    keys = [k for k in ("M1", "M2", "M3", "flask-json") if k in results]
    written = [throughput(results, servers, os.path.join(out_dir, f"{prefix}-throughput.png")),
               latency(latency_dir, keys, servers, os.path.join(out_dir, f"{prefix}-latency.png")),
               m7_gaps(results.get("M7") or {}, os.path.join(out_dir, f"{prefix}-m7-gaps.png"))]
    return [p for p in written if p]
