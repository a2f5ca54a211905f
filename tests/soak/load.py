"""Load of the chaos soak, one thread per client, until ``stop`` is set: HTTP/1.1 keep-alive
requests (http.client), h2c requests (prior knowledge, tests/support/h2raw.py) and WebSocket
echo clients (websockets, over HTTP/1.1) that reconnect when the server closes and record the
close code. Every client goes through HAProxy. A request counts as lost unless it got a 2xx."""
import collections
import http.client
import threading
import time

from support.h2raw import H2Client
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

H2_STREAMS = 6  # streams in flight per h2 round
SLOW_EVERY = 10  # every 10th request sleeps in the app, so reloads meet requests in flight


class Tally:
    """What the clients saw, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ok = collections.Counter()      # kind -> requests answered 2xx
        self.lost = []                        # (t, kind, reason)
        self.closes = collections.Counter()   # WebSocket close code ("none": no close frame)
        self.ws_messages = 0
        self.ws_connects = 0
        self.t0 = time.monotonic()

    def good(self, kind, n=1):
        with self.lock:
            self.ok[kind] += n

    def bad(self, kind, reason):
        with self.lock:
            self.lost.append((round(time.monotonic() - self.t0, 2), kind, reason))

    def report(self):
        with self.lock:
            return {"requests": sum(self.ok.values()) + len(self.lost), "ok": dict(self.ok),
                    "lost": len(self.lost), "lost_detail": self.lost[:200],
                    "ws_closes": {str(k): v for k, v in self.closes.items()},
                    "ws_messages": self.ws_messages, "ws_connects": self.ws_connects}


def _path(n):
    return "/sleep?s=0.2" if n % SLOW_EVERY == 0 else "/hello"


def http1(port, stop, tally):
    conn, n = None, 0
    while not stop.is_set():
        n += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", _path(n))
            resp = conn.getresponse()
            resp.read()
            if 200 <= resp.status < 300:
                tally.good("http1")
            else:
                tally.bad("http1", "status %d" % resp.status)
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            tally.bad("http1", repr(exc))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def h2c(port, stop, tally):
    client, n = None, 0
    while not stop.is_set():
        try:
            if client is None or client.closed or client.goaway is not None:
                if client is not None:
                    client.close()
                client = H2Client("127.0.0.1", port, timeout=30)
            ids = []
            for _ in range(H2_STREAMS):
                n += 1
                ids.append(client.get(_path(n)))
            streams = client.wait_streams(ids, timeout=30)
        except (OSError, ConnectionError, TimeoutError) as exc:
            tally.bad("h2c", repr(exc))
            client = None
            continue
        for st in streams:
            if st.ended and st.status is not None and 200 <= st.status < 300:
                tally.good("h2c")
            else:
                tally.bad("h2c", repr(st))
    if client is not None:
        client.close()


def websocket(port, stop, tally):
    while not stop.is_set():
        try:
            ws = connect("ws://127.0.0.1:%d/echo" % port, ping_interval=None,
                         open_timeout=15, close_timeout=5)
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            tally.bad("ws-handshake", repr(exc))
            time.sleep(0.2)
            continue
        with tally.lock:
            tally.ws_connects += 1
        with ws:
            _echo(ws, stop, tally)


def _echo(ws, stop, tally):
    n = 0
    try:
        while not stop.is_set():
            n += 1
            ws.send(str(n))
            got = ws.recv(timeout=30)
            if got != str(n):
                tally.bad("ws-echo", "sent %d, got %r" % (n, got))
                return
            with tally.lock:
                tally.ws_messages += 1
            stop.wait(0.05)
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else "none"
        with tally.lock:
            tally.closes[code] += 1
    except TimeoutError as exc:
        tally.bad("ws-echo", repr(exc))


def start(port, stop, tally, http1_clients=2, h2c_clients=1, ws_clients=3):
    threads = ([threading.Thread(target=http1, args=(port, stop, tally)) for _ in range(http1_clients)]
               + [threading.Thread(target=h2c, args=(port, stop, tally)) for _ in range(h2c_clients)]
               + [threading.Thread(target=websocket, args=(port, stop, tally)) for _ in range(ws_clients)])
    for t in threads:
        t.daemon = True
        t.start()
    return threads
