"""Where greenh2's time goes under M2: a py-spy flame graph (SVG) and a table of shares.

Why this module exists: the report must say what is left after each change, measured the same
way every run. greenh2 serves M2's load (h2c hello, h2load -c 50 -m 10) while py-spy samples it
from outside (no instrumentation in the server, `--nonblocking` so the process is not paused):
once written as a flame graph, once as raw folded stacks that are summed here by where each
sample's innermost Python frame lives (h2, hpack, greenh2's layers, gevent, ...), plus the
share of samples with any h2/hpack/hyperframe frame on the stack. py-spy needs ptrace (root, or
kernel.yama.ptrace_scope=0); without it the profile is skipped with a note.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

# (label, substring of the frame's file path), first match wins.
GROUPS = [
    ("h2 (state machines, frame buffer, events)", "/h2/"),
    ("hpack (header compression)", "/hpack/"),
    ("hyperframe (frame objects)", "/hyperframe/"),
    ("greenh2 http2 (engine, session, stream, outbound, request)", "/greenh2/http2/"),
    ("greenh2 wsgi (environ, start_response, response)", "/greenh2/wsgi/"),
    ("greenh2 server (connection, TLS pump)", "/greenh2/server/"),
    ("gevent (hub, greenlets, sockets)", "/gevent/"),
    ("the app (benchmarks/apps.py)", "benchmarks/apps.py"),
]
H2_LIBS = ("/h2/", "/hpack/", "/hyperframe/")


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    local = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return local if os.path.exists(local) else None


def record(pid: int, seconds: float, out_svg: str, out_raw: str) -> str:
    """Sample `pid` twice (flame graph, then raw stacks); '' or the reason it failed."""
    exe = py_spy()
    if exe is None:
        return "py-spy not installed"
    for fmt, path in (("flamegraph", out_svg), ("raw", out_raw)):
        proc = subprocess.run([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                               "--rate", "200", "--nonblocking", "--full-filenames",
                               "--format", fmt, "-o", path], capture_output=True, text=True,
                              timeout=seconds + 60)
        if proc.returncode or not os.path.exists(path):
            return f"py-spy failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return ""


def _frames(stack: str) -> list:
    return stack.split(";")


def shares(raw_path: str) -> tuple:
    """([(label, share of samples by innermost frame)], share with h2/hpack/hyperframe on the
    stack, total samples)."""
    totals: dict = {}
    inside_h2 = total = 0
    with open(raw_path) as f:
        for line in f:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = _frames(stack)
            leaf = frames[-1]
            label = next((name for name, key in GROUPS if key in leaf), "other (stdlib, OpenSSL calls, ...)")
            totals[label] = totals.get(label, 0) + count
            if any(lib in fr for fr in frames for lib in H2_LIBS):
                inside_h2 += count
            total += count
    if not total:
        return [], 0.0, 0
    rows = sorted(((k, v / total) for k, v in totals.items()), key=lambda kv: -kv[1])
    return rows, inside_h2 / total, total


def table(raw_path: str) -> str:
    rows, inside, total = shares(raw_path)
    if not total:
        return "(no samples)"
    out = ["| share of samples (innermost frame) | where |", "|---|---|"]
    out += [f"| {share * 100:.0f} % | {label} |" for label, share in rows]
    out.append(f"| {inside * 100:.0f} % | any h2/hpack/hyperframe frame on the stack "
               f"(inclusive) |")
    return "\n".join(out) + f"\n\n{total:,} samples at 200 Hz."
