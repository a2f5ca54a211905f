"""Operations under a real gunicorn arbiter: gunicorn's own statsd receives the greenh2 worker's
request metrics (through gunicorn's logger, as for its own workers), and GREENH2_METRICS_BIND
serves greenh2's Prometheus metrics and /readyz from the arbiter, aggregated over the workers."""
import signal
import socket
import time

import pytest
from support.h2raw import H2Client
from support.scrape import delta, get, settled

from .gunicorn_proc import free_port

pytestmark = pytest.mark.timeout(60)


class StatsdSink:
    """A UDP listener standing in for a statsd daemon."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def drain(self, quiet=0.5, timeout=10.0):
        """Packets until none came for `quiet` seconds."""
        packets = []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(quiet)
        while time.monotonic() < deadline:
            try:
                packets.append(self.sock.recv(65536).decode())
            except TimeoutError:
                break
        return packets

    def close(self):
        self.sock.close()


def _requests(g, n_h2, n_h1):
    with H2Client("127.0.0.1", g.port) as c:
        sids = [c.get("/hello") for _ in range(n_h2)]
        assert all(r.status == 200 for r in c.wait_streams(sids))
    for _ in range(n_h1):
        assert g.request("/hello")[0] == 200


def test_statsd_receives_greenh2_worker_requests(gunicorn):
    sink = StatsdSink()
    try:
        g = gunicorn(["--statsd-host", "127.0.0.1:%d" % sink.port])
        sink.drain()  # start-up gauges and the readiness probes
        _requests(g, n_h2=4, n_h1=3)
        lines = [ln for p in sink.drain() for ln in p.splitlines()]
    finally:
        sink.close()
    assert lines.count("gunicorn.requests:1|c|@1.0") == 7, lines
    assert lines.count("gunicorn.request.status.200:1|c|@1.0") == 7, lines
    durations = [ln for ln in lines if ln.startswith("gunicorn.request.duration:")]
    assert len(durations) == 7 and all(ln.endswith("|ms") for ln in durations), lines


def test_metrics_bind_under_gunicorn(gunicorn):
    port = free_port()
    url = "http://127.0.0.1:%d/metrics" % port
    g = gunicorn(["--graceful-timeout", "10"], env={"GREENH2_METRICS_BIND": "127.0.0.1:%d" % port})
    assert g.wait_log("greenh2 metrics at: " + url)
    before = settled(url)  # the readiness probes' connections are closed and counted
    _requests(g, n_h2=5, n_h1=2)
    after = settled(url)
    assert delta(before, after, "greenh2_requests_total", protocol="h2", status="2xx") == 5
    assert delta(before, after, "greenh2_requests_total", protocol="http/1.1", status="2xx") == 2
    assert delta(before, after, "greenh2_connections_accepted_total", protocol="h2") == 1
    assert get(url.replace("/metrics", "/readyz"))[0] == 200
    c = H2Client("127.0.0.1", g.port)
    sid = c.get("/sleep?s=2")
    c.read_events(timeout=0.3, raise_on_timeout=False)
    g.signal(signal.SIGTERM)
    deadline = time.monotonic() + 2
    while get(url.replace("/metrics", "/readyz"))[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert get(url.replace("/metrics", "/readyz")) == (503, "draining\n")
    assert c.wait_stream(sid, timeout=10).status == 200
    c.close()
