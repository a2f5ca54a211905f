"""Keep-busy HTTP/2 load that handles GOAWAY the way RFC 9113 §6.8 lets a client, and counts what
the server lost.

Why this exists: h2load does not retry a request the server did not process (one above a GOAWAY's
last stream id, or refused with REFUSED_STREAM, RFC 9113 §8.7); it counts it failed ("we don't
have a facility to re-start request already in-flight", h2load.cc), so an h2load run across a
graceful stop or reload fails a few requests by its own accounting, more of them the more loaded
the machine (more requests cross the final GOAWAY). Browsers, HAProxy and grpcio retry those. So
a test that asks "did a reload lose anything?" needs a client that retries exactly what the
protocol says is safe to retry, and counts everything else that did not end 200 as lost.

`run_load(...)` keeps `connections` connections with `streams` requests each in flight for
`duration` seconds, each connection in a thread (the test process is not gevent-patched).
"""
import threading
import time
from dataclasses import dataclass, field

from h2.errors import ErrorCodes

from support.h2raw import H2Client


@dataclass
class LoadResult:
    ok: int = 0  # 200 with END_STREAM
    retried: int = 0  # not processed by the server (above the last stream id, REFUSED_STREAM)
    connections: int = 0  # connections opened (a reconnect after each GOAWAY)
    goaways: int = 0
    lost: list = field(default_factory=list)  # what went wrong, one line each
    ended_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts):
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def lose(self, what):
        with self.lock:
            self.lost.append(what)


def _settle(c, inflight, result):
    """Account for the streams that are done; the rest stay in `inflight`."""
    for sid in [s for s in inflight if c.streams[s].done]:
        inflight.discard(sid)
        st = c.streams[sid]
        if st.ended and st.status == 200:
            result.add(ok=1)
        elif st.reset == ErrorCodes.REFUSED_STREAM:
            result.add(retried=1)  # §8.7: not processed, safe to retry
        else:
            result.lose("stream %d: %r" % (sid, st))


def _one_connection(host, port, tls, path, streams, stop_at, result):
    """Serve requests on one connection until the duration ends or the server says GOAWAY."""
    try:
        c = H2Client(host, port, tls=tls, timeout=15)
    except OSError as exc:
        result.lose("connect: %r" % exc)
        time.sleep(0.05)
        return
    result.add(connections=1)
    inflight = set()
    try:
        while True:
            while c.goaway is None and len(inflight) < streams and time.monotonic() < stop_at:
                inflight.add(c.get(path))
            if not inflight:
                break
            before = len(inflight)
            c.read_events(until=lambda c: c.closed or any(c.streams[s].done for s in inflight),
                          timeout=15, raise_on_timeout=False)
            _settle(c, inflight, result)
            if c.closed or (c.goaway is not None and c.goaway.last_stream_id < 2**31 - 1):
                break  # the final GOAWAY: what is above its last stream id was not processed
            if len(inflight) == before and not c.closed:
                result.lose("no progress in 15 s on %r" % [c.streams[s] for s in inflight])
                return
        if c.goaway is not None:
            last = c.goaway.last_stream_id
            above = {s for s in inflight if s > last}
            result.add(retried=len(above))
            inflight -= above
            if inflight and not c.closed:  # at or below the last id: the server must finish them
                c.read_events(until=lambda c: c.closed or all(c.streams[s].done for s in inflight),
                              timeout=15, raise_on_timeout=False)
                _settle(c, inflight, result)
        for sid in inflight:
            result.lose("stream %d unfinished, connection closed: %r (goaway %r)"
                        % (sid, c.streams[sid], c.goaway))
    finally:
        if c.goaway is not None:
            result.add(goaways=1)
        c.close()


def run_load(host, port, path="/", tls=False, connections=4, streams=4, duration=10.0):
    """Run the load for `duration` seconds (blocking); returns a LoadResult."""
    result = LoadResult()
    stop_at = time.monotonic() + duration

    def worker():
        while time.monotonic() < stop_at:
            _one_connection(host, port, tls, path, streams, stop_at, result)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 60)
    result.ended_at = time.monotonic()
    return result
