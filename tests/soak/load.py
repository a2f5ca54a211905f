"""Load of the chaos soak, one thread per client, until ``stop`` is set, every client through
HAProxy:

- HTTP/1.1 keep-alive requests (http.client) and h2c requests (prior knowledge, 6 streams per
  round, tests/support/h2raw.py); a request counts as lost unless it got a 2xx;
- server-sent event streams (``/events``: SSE_EVENTS events SSE_EVERY s apart) over HTTP/1.1
  and h2c; a stream counts as lost unless it got every event and ended cleanly (the last
  chunk of a chunked response, END_STREAM on h2);
- WebSocket echo clients over HTTP/1.1 (websockets, Upgrade) and over h2c (RFC 8441 extended
  CONNECT to HAProxy's h2 frontend, tests/support/ws_h2.py); they reconnect when closed and
  record the close code. A WebSocket counts as lost unless it ends with a close frame (1000 or
  1001) or is still echoing when the load stops.

Every request, stream and WebSocket carries a unique ``id=`` in its query string: soak_app
traces it per worker and HAProxy logs it, so a loss can be attributed to a killed worker
(attribution.py). Losses are recorded with the wall time the client saw them."""
import collections
import http.client
import threading
import time
import traceback

from h2.exceptions import StreamClosedError
from support.h2raw import H2Client
from support.ws_h2 import H2WebSocket
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

H2_STREAMS = 6  # streams in flight per h2 round
SLOW_EVERY = 10  # every 10th request sleeps in the app, so reloads meet requests in flight
SSE_EVENTS = 8  # events per SSE stream ...
SSE_EVERY = 0.2  # ... this far apart: streams of ~1.4 s, well inside graceful_timeout (10 s)
SSE_H2_STREAMS = 3  # SSE streams in flight per h2c round
CLEAN_CLOSES = (1000, 1001)


class Tally:
    """What the clients saw, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ok = collections.Counter()      # kind -> requests / streams / WebSockets that ended well
        self.lost = []                        # dicts: t (wall), kind, id, reason
        self.closes = collections.Counter()   # (kind, WebSocket close code or "none": no close frame)
        self.ws_messages = 0
        self.ws_connects = collections.Counter()  # kind -> WebSockets opened

    def good(self, kind, n=1):
        with self.lock:
            self.ok[kind] += n

    def bad(self, kind, rid, reason, at=None):
        """A loss, seen now or at monotonic time `at` (when an h2 stream ended, for instance)."""
        t = time.time() if at is None else time.time() - (time.monotonic() - at)
        with self.lock:
            self.lost.append({"t": round(t, 3), "kind": kind, "id": rid, "reason": reason[-1500:]})

    def closed(self, kind, code):
        with self.lock:
            self.closes[(kind, str(code))] += 1

    def report(self):
        with self.lock:
            by_code = collections.Counter()
            for (_, code), n in self.closes.items():
                by_code[code] += n
            return {"requests": sum(self.ok.values()) + len(self.lost), "ok": dict(self.ok),
                    "failed": len(self.lost), "failed_detail": list(self.lost),
                    "ws_closes": dict(by_code),
                    "ws_closes_by_kind": {"%s %s" % k: v for k, v in sorted(self.closes.items())},
                    "ws_messages": self.ws_messages, "ws_connects": dict(self.ws_connects)}


def _path(name, n):
    rid = "%s-%d" % (name, n)
    return ("/sleep?s=0.2&id=" if n % SLOW_EVERY == 0 else "/hello?id=") + rid, rid


def _keepalive(name, kind, port, stop, tally, ask):
    """One HTTP/1.1 keep-alive client until `stop`: `ask(conn, n, rid)` makes request n, judges
    it (tally) and returns the response; a new connection when the server closed it, or after
    a request failed in transport (a loss of that id)."""
    conn, n = None, 0
    while not stop.is_set():
        n += 1
        rid = "%s-%d" % (name, n)
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if ask(conn, n, rid).will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            tally.bad(kind, rid, repr(exc))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def http1(name, port, stop, tally):
    def ask(conn, n, rid):
        conn.request("GET", _path(name, n)[0])
        resp = conn.getresponse()
        resp.read()
        if 200 <= resp.status < 300:
            tally.good("http1")
        else:
            tally.bad("http1", rid, "status %d" % resp.status)
        return resp
    _keepalive(name, "http1", port, stop, tally, ask)


def _h2_client(client, port):
    """The h2c connection to use next: a new one once HAProxy closed or sent GOAWAY."""
    if client is None or client.closed or client.goaway is not None:
        if client is not None:
            client.close()
        client = H2Client("127.0.0.1", port, timeout=30)
    return client


def _answered(st):
    """A 2xx that ended with END_STREAM."""
    return st is not None and st.ended and st.status is not None and 200 <= st.status < 300


def h2c(name, port, stop, tally):
    client, n = None, 0
    while not stop.is_set():
        rids = {}
        try:
            client = _h2_client(client, port)
            for _ in range(H2_STREAMS):
                n += 1
                path, rid = _path(name, n)
                rids[client.get(path)] = rid
            streams = client.wait_streams(list(rids), timeout=30)
        except (OSError, ConnectionError, TimeoutError) as exc:
            for sid, rid in rids.items():
                st = client.streams.get(sid) if client is not None else None
                if _answered(st):
                    tally.good("h2c")
                else:
                    tally.bad("h2c", rid, "%r %r" % (exc, st), at=st.ended_at if st else None)
            client = None
            continue
        for st in streams:
            if _answered(st):
                tally.good("h2c")
            else:
                tally.bad("h2c", rids[st.stream_id], repr(st), at=st.ended_at)
    if client is not None:
        client.close()


def _sse_path(rid):
    return "/events?n=%d&every=%s&id=%s" % (SSE_EVENTS, SSE_EVERY, rid)


def sse_events(body):
    """The ``id:`` of every complete event in an event-stream body (WHATWG HTML 9.2.5: events
    end with a blank line)."""
    ids = []
    for block in bytes(body).replace(b"\r\n", b"\n").split(b"\n\n")[:-1]:
        for line in block.split(b"\n"):
            if line.startswith(b"id:"):
                ids.append(int(line[3:].strip()))
    return ids


def _sse_complete(body):
    return sse_events(body) == list(range(SSE_EVENTS))


def sse_http1(name, port, stop, tally):
    """SSE over HTTP/1.1 keep-alive: read each stream as it arrives (read1); http.client raises
    IncompleteRead if the chunked body ends without its last chunk."""
    def ask(conn, n, rid):
        conn.request("GET", _sse_path(rid), headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        body = bytearray()
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            body += chunk
        if resp.status != 200:
            tally.bad("sse-http1", rid, "status %d" % resp.status)
        elif not _sse_complete(body):
            tally.bad("sse-http1", rid, "events %r" % sse_events(body))
        else:
            tally.good("sse-http1")
        return resp
    _keepalive(name, "sse-http1", port, stop, tally, ask)


def sse_h2c(name, port, stop, tally):
    """SSE over h2c, SSE_H2_STREAMS streams at a time on one connection: each must end with
    END_STREAM (not RST_STREAM) after every event."""
    client, n = None, 0
    while not stop.is_set():
        rids = {}
        try:
            client = _h2_client(client, port)
            for _ in range(SSE_H2_STREAMS):
                n += 1
                rid = "%s-%d" % (name, n)
                rids[client.get(_sse_path(rid), headers=[("accept", "text/event-stream")])] = rid
            client.wait_streams(list(rids), timeout=30)
            err = None
        except (OSError, ConnectionError, TimeoutError) as exc:
            err = exc
        for sid, rid in rids.items():
            st = client.streams.get(sid)
            if st is not None and st.ended and st.status == 200 and _sse_complete(st.data):
                tally.good("sse-h2c")
            else:
                tally.bad("sse-h2c", rid, "%r %r events %r" % (err, st, sse_events(st.data) if st else None),
                          at=st.ended_at if st else None)
        if err is not None:
            client = None
    if client is not None:
        client.close()


def ws_http1(name, port, stop, tally):
    n = 0
    while not stop.is_set():
        n += 1
        rid = "%s-%d" % (name, n)
        try:
            ws = connect("ws://127.0.0.1:%d/echo?id=%s" % (port, rid), ping_interval=None,
                         open_timeout=15, close_timeout=5)
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            tally.bad("ws-http1", rid, "handshake " + repr(exc))
            time.sleep(0.2)
            continue
        with tally.lock:
            tally.ws_connects["ws-http1"] += 1
        with ws:
            _echo_http1(ws, rid, stop, tally)


def _echo_http1(ws, rid, stop, tally):
    n = 0
    try:
        while not stop.is_set():
            n += 1
            ws.send(str(n))
            got = ws.recv(timeout=30)
            if got != str(n):
                tally.bad("ws-http1", rid, "sent %d, got %r" % (n, got))
                return
            with tally.lock:
                tally.ws_messages += 1
            stop.wait(0.05)
        tally.good("ws-http1")  # still echoing at the end
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else "none"
        tally.closed("ws-http1", code)
        if code in CLEAN_CLOSES:
            tally.good("ws-http1")
        else:
            tally.bad("ws-http1", rid, "close %s: %r" % (code, exc))
    except TimeoutError as exc:
        tally.bad("ws-http1", rid, repr(exc))


def ws_h2c(name, port, stop, tally):
    """WebSockets over RFC 8441 to HAProxy's h2 frontend (it advertises
    SETTINGS_ENABLE_CONNECT_PROTOCOL), one at a time, a new one on the same connection after a
    close; HAProxy carries them to the backends as RFC 8441 streams too."""
    client, n = None, 0
    while not stop.is_set():
        n += 1
        rid = "%s-%d" % (name, n)
        try:
            client = _h2_client(client, port)
            ws = H2WebSocket(client, "/echo?id=" + rid)
            st = ws.wait_response(timeout=15)
        except (OSError, ConnectionError, TimeoutError) as exc:
            tally.bad("ws-h2c", rid, "handshake " + repr(exc))
            client = None
            time.sleep(0.2)
            continue
        if st.status != 200:
            tally.bad("ws-h2c", rid, "handshake %r" % st)
            time.sleep(0.2)
            continue
        with tally.lock:
            tally.ws_connects["ws-h2c"] += 1
        if not _echo_h2(ws, rid, stop, tally):
            client = None
    if client is not None:
        client.close()


def _echo_h2(ws, rid, stop, tally):
    """Echo until stop or a close; False when the connection is not fit for another stream."""
    n = 0
    try:
        while not stop.is_set():
            n += 1
            if ws.ws.state is ConnectionState.OPEN:
                ws.send(str(n))
            # else a Close came in the same read as the last echo: recv() returns it next
            got = ws.recv(timeout=30)
            if isinstance(got, CloseConnection):
                code = int(got.code)
                tally.closed("ws-h2c", code)
                ws.send_raw(ws.ws.send(got.response()))  # RFC 6455 5.5.1: answer the close
                if code in CLEAN_CLOSES:
                    tally.good("ws-h2c")
                else:
                    tally.bad("ws-h2c", rid, "close %d" % code)
                return True
            if got != str(n):
                tally.bad("ws-h2c", rid, "sent %d, got %r" % (n, got))
                return False
            with tally.lock:
                tally.ws_messages += 1
            stop.wait(0.05)
        tally.good("ws-h2c")
        ws.close(1000)
        return True
    except (OSError, ConnectionError, TimeoutError, StreamClosedError) as exc:
        # StreamClosedError: HAProxy reset the stream (its backend was killed) before our send
        tally.closed("ws-h2c", "none")
        tally.bad("ws-h2c", rid, repr(exc))
        return False


CLIENTS = (  # (name prefix, client, how many)
    ("h1", http1, 2), ("h2", h2c, 1), ("se1", sse_http1, 1), ("se2", sse_h2c, 1),
    ("ws1", ws_http1, 2), ("ws2", ws_h2c, 2),
)


def _guarded(target, name, port, stop, tally):
    """A client that dies of an exception of its own is a loss no kill excuses (id None)."""
    try:
        target(name, port, stop, tally)
    except Exception:
        tally.bad("client " + name, None, traceback.format_exc())
        raise


def start(port, stop, tally, clients=CLIENTS):
    threads = []
    for prefix, target, count in clients:
        for k in range(count):
            threads.append(threading.Thread(target=_guarded, args=(target, "%s%d" % (prefix, k), port, stop, tally),
                                            daemon=True))
    for t in threads:
        t.start()
    return threads
