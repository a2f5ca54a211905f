"""Which losses of the chaos soak a worker SIGKILL explains (issue 16 part 5: "only what was in
flight on a killed worker may be lost").

A SIGKILLed worker loses what it was serving: its connections from HAProxy die, and HAProxy
fails the requests, SSE streams and WebSockets on them (its `retry-on conn-failure` does not
retry a request that was sent). On an HTTP/1.1 client connection that had served a request
before, HAProxy closes without a response and without a log line (the RFC 9112 §9.3.1 signal
that the client may retry, see haproxy/haproxy#1109); otherwise it logs the request on the
server with a server-side termination state (``SH--``: before the response head, ``SD--``:
during the body or tunnel).

The evidence for one lost item (request, stream or WebSocket, by its ``id=``):

- soak_app's trace (per worker pid, soak_app.py): the app got it on the killed worker, never on
  another process, and had not finished it more than STALE seconds before the kill (a response
  finished that long ago should have been delivered); or the app never got it at all (it was in
  the killed worker's socket buffer, or HAProxy's connection to it);
- HAProxy's log: nothing for it, or a line on the killed worker's server with a termination
  state that starts with ``S`` (the server side aborted). A line with any other state (a
  complete response, a client abort) means the loss is not the server's. A WebSocket tunnel
  (101) that the server ends is ``----`` to HAProxy: its line must end at the kill instead;
- the client saw the loss within WINDOW seconds after the kill (all on one machine: one clock);
  an item no app got and HAProxy did not log (its RST_STREAM(REFUSED_STREAM) to an h2 client,
  its silent close of a reused HTTP/1.1 connection) within SILENT_WINDOW: that is a request
  HAProxy sent into the dead connection in the moment before it saw it die.

Per kill, the excused items the app had (traced) are at most what HAProxy had in flight on
that backend just before the kill (``scur`` of the server, sampled right before the signal): a
kill cannot excuse more than it could have lost. Those no app got are at most UNTRACED_CAP
(one client's burst of h2 streams, load.H2_STREAMS, sent as the connection died). Anything
else lost fails the soak.
"""
import collections
import os
import re

WINDOW = 2.0  # seconds after a kill in which a client sees what it lost
SILENT_WINDOW = 1.0  # the same, for a loss with no trace and no HAProxy log line
UNTRACED_CAP = 6  # per kill: items no app got (load.H2_STREAMS)
STALE = 1.0  # seconds: a response the app finished this long before the kill was not in flight

# the soak's log-format (cluster.py): ... %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc ... "%r" soak:...
LOG_RE = re.compile(
    r' (?P<backend>[^ /]+)/(?P<server>\S+) \S+ (?P<status>-?\d+) \S+ (?P<tsc>\S{4}) .*?'
    r'"\S+ (?P<uri>\S+)[^"]*" soak:(?P<accept>\d+\.\d+)/(?P<th>-?\d+)/(?P<ti>-?\d+)/(?P<logged>\d+)')
ID_RE = re.compile(r"[?&]id=([^&\s]+)")


def read_traces(trace_dir):
    """id -> [(kind "b"/"e", pid, wall time)] from every worker's trace file."""
    traces = collections.defaultdict(list)
    for name in os.listdir(trace_dir):
        if not name.endswith(".trace"):
            continue
        pid = int(name.split(".")[0])
        with open(os.path.join(trace_dir, name)) as f:
            for line in f:
                parts = line.split()
                if line.endswith("\n") and len(parts) == 3:  # a SIGKILL can cut the last line short
                    traces[parts[1]].append((parts[0], pid, float(parts[2])))
    return dict(traces)


def read_haproxy(log_text):
    """id -> [{server, status, tsc, start, end}] from HAProxy's request log lines."""
    lines = collections.defaultdict(list)
    for line in log_text.splitlines():
        m = LOG_RE.search(line)
        if not m:
            continue
        rid = ID_RE.search(m.group("uri"))
        if not rid:
            continue
        accept = float(m.group("accept"))
        lines[rid.group(1)].append({
            "server": m.group("server"), "status": int(m.group("status")), "tsc": m.group("tsc"),
            "start": accept + max(0, int(m.group("th"))) / 1000 + max(0, int(m.group("ti"))) / 1000,
            "end": int(m.group("logged")) / 1000})
    return dict(lines)


def server_of(backend):
    return "app%d" % (backend + 1)  # cluster.py names HAProxy's servers app1..app3


def _why_not(loss, kill, traced, logged):
    """None if `kill` explains `loss`, else why not."""
    if loss["id"] is None:
        return "not a request (a client failed)"
    if not 0 <= loss["t"] - kill["t"] <= WINDOW:
        return "seen %.2f s after the kill" % (loss["t"] - kill["t"])
    pids = {pid for _, pid, _ in traced}
    if pids and pids != {kill["pid"]}:
        return "the app got it on pid(s) %s" % sorted(pids)
    begun = [t for kind, _, t in traced if kind == "b"]
    if begun and min(begun) > kill["t"]:
        return "began after the kill"
    if not traced and not logged and loss["t"] - kill["t"] > SILENT_WINDOW:
        return "no trace, no HAProxy log line, seen %.2f s after the kill" % (loss["t"] - kill["t"])
    ended = [t for kind, _, t in traced if kind == "e"]
    if ended and max(ended) < kill["t"] - STALE:
        return "the app finished it %.2f s before the kill" % (kill["t"] - max(ended))
    for line in logged:
        if line["server"] != server_of(kill["backend"]):
            return "HAProxy logged it on %s" % line["server"]
        if line["status"] == 101:  # a WebSocket tunnel: HAProxy logs the server's end as ----
            if not -0.05 <= line["end"] - kill["t"] <= WINDOW:
                return "its tunnel ended %.2f s after the kill" % (line["end"] - kill["t"])
        elif not line["tsc"].startswith("S"):
            return "HAProxy logged it as %s %s" % (line["status"], line["tsc"])
    return None


def attribute(lost, kills, traces, logged):
    """Split `lost` (dicts with t, kind, id, reason) into excused and unexcused, each loss with
    its evidence; and per kill the count it excused against HAProxy's in-flight count."""
    excused, unexcused = [], []
    per_kill, traced_per_kill = collections.Counter(), collections.Counter()
    for loss in lost:
        traced, lines = traces.get(loss["id"], []), logged.get(loss["id"], [])
        reasons = []
        for k in sorted(range(len(kills)), key=lambda j: -kills[j]["t"]):  # the latest kill first
            why = _why_not(loss, kills[k], traced, lines)
            if why is None:
                evidence = ("traced on the killed worker" if traced else "never reached an app") + (
                    ", HAProxy: " + ",".join(line["tsc"] for line in lines) if lines
                    else ", HAProxy: no log line (closed the reused client connection)")
                excused.append(dict(loss, kill=k, evidence=evidence))
                per_kill[k] += 1
                traced_per_kill[k] += bool(traced)
                break
            reasons.append("kill %d: %s" % (k, why))
        else:
            unexcused.append(dict(loss, why=reasons[:3] or ["no SIGKILL before it"],
                                  traces=traced[:4], haproxy=lines[:2]))
    over = []
    for k, n in sorted(per_kill.items()):
        traced = traced_per_kill[k]
        if traced > kills[k]["haproxy_in_flight"] or n - traced > UNTRACED_CAP:
            over.append({"kill": k, "excused": n, "traced": traced,
                         "haproxy_in_flight": kills[k]["haproxy_in_flight"]})
    return {"excused": excused, "unexcused": unexcused, "per_kill": dict(per_kill), "over_cap": over}
