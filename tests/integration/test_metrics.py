"""--metrics-bind: Prometheus counters move by exactly the traffic sent (h2 through h2load and a
raw client, HTTP/1.1 through curl, refused streams, a client reset, a ping flood), scraped with
prometheus_client's parser, in one process and aggregated over --workers 2 (the master
listens); a killed worker loses none of its counts."""
import glob
import os
import signal
import socket
import tempfile
import time

import pytest
from h2.errors import ErrorCodes
from support import http1, tools
from support.ctl import ctl_json
from support.h2raw import H2Client
from support.scrape import delta, get, metrics_url, scrape, settled
from support.wait import wait_for

pytestmark = pytest.mark.timeout(60)
HELLO = len(b"Hello, world!\n")


def _start(start_server, workers, extra=()):
    srv = start_server(["--metrics-bind", "127.0.0.1:0", "--max-concurrent-streams", "2",
                        "-w", str(workers), *extra])
    return srv, metrics_url(srv)


def _h2_traffic(srv):
    """50 h2load GETs on 2 connections; 5 streams at once on a server allowing 2 (3 refused);
    one PUT the client resets; a 200-PING flood (GOAWAY ENHANCE_YOUR_CALM)."""
    _, stats = tools.h2load(["-n", "50", "-c", "2", "-m", "1", srv.url_for("/hello")])
    assert stats.succeeded == 50, stats.raw[-2000:]
    with H2Client("127.0.0.1", srv.port) as c:
        c.force_stream_limit()
        sids = [c.get("/sleep?s=0.5") for _ in range(5)]
        results = c.wait_streams(sids, timeout=10)
        assert sorted(r.status or r.reset for r in results) == [
            ErrorCodes.REFUSED_STREAM] * 3 + [200, 200], results
    with H2Client("127.0.0.1", srv.port) as c:
        sid = c.request("PUT", "/sleep?s=0.3")
        c.read_events(timeout=0.1, raise_on_timeout=False)
        c.reset_stream(sid, ErrorCodes.CANCEL)
        time.sleep(0.5)  # the handler ends at its next write
    with H2Client("127.0.0.1", srv.port) as c:
        for i in range(200):
            c.conn.ping(i.to_bytes(8, "big"))
        c.flush()
        c.read_events(until=lambda cl: cl.goaway is not None or cl.closed, timeout=5,
                      raise_on_timeout=False)
        assert c.goaway is not None and c.goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM


def _h1_traffic(srv):
    res = tools.curl(["--http1.1", *[srv.url_for("/hello")] * 5])
    assert res.result.stdout.count("Hello, world!\n") == 5  # (-w writes a line per URL)
    res = tools.curl(["--http1.1", "--data-binary", "@-", srv.url_for("/echo")], input=b"x" * 1000)
    assert len(res.body) == 1000
    assert tools.curl(["--http1.1", "-X", "BREW", srv.url_for("/hello")]).status == 200


def _check_counts(before, after):
    d = lambda name, **labels: delta(before, after, name, **labels)
    assert d("greenh2_requests_total", protocol="h2", method="GET", status="2xx") == 52
    assert d("greenh2_requests_total", protocol="h2", method="PUT") == 1
    assert d("greenh2_requests_total", protocol="http/1.1", method="GET", status="2xx") == 5
    assert d("greenh2_requests_total", protocol="http/1.1", method="POST", status="2xx") == 1
    assert d("greenh2_requests_total", protocol="http/1.1", method="OTHER") == 1
    assert d("greenh2_request_duration_seconds_count", protocol="h2") == 53
    assert d("greenh2_request_duration_seconds_count", protocol="http/1.1") == 7
    assert d("greenh2_request_bytes_total", protocol="http/1.1") == 1000
    assert d("greenh2_response_bytes_total", protocol="http/1.1") == 6 * HELLO + 1000
    assert d("greenh2_response_bytes_total", protocol="h2") >= 50 * HELLO
    assert d("greenh2_connections_accepted_total", protocol="h2", tls="false") == 5
    assert d("greenh2_connections_accepted_total", protocol="http/1.1", tls="false") == 3
    assert d("greenh2_refused_streams_total") == 3
    assert d("greenh2_resets_total", direction="sent", code="REFUSED_STREAM") == 3
    assert d("greenh2_resets_total", direction="received", code="CANCEL") == 1
    assert d("greenh2_limit_trips_total", limit="concurrent_streams") == 3
    assert d("greenh2_limit_trips_total", limit="ping") == 1
    assert d("greenh2_goaways_total", direction="sent", code="ENHANCE_YOUR_CALM") == 1
    assert after.value("greenh2_connections") == 0
    assert after.value("greenh2_streams_active") == 0
    # Bounded label sets: methods outside the known list are OTHER.
    assert "BREW" not in after.label_values("greenh2_requests_total", "method")


@pytest.mark.parametrize("workers", [1, 2])
def test_counters_move_by_the_traffic(start_server, workers):
    tools.require("h2load")
    srv, url = _start(start_server, workers)
    before = settled(url)
    _h2_traffic(srv)
    _h1_traffic(srv)
    after = settled(url)
    _check_counts(before, after)
    assert get(url.replace("/metrics", "/healthz")) == (200, "ok\n")
    assert get(url.replace("/metrics", "/readyz")) == (200, "ready\n")


def test_killed_worker_loses_no_counts(start_server):
    srv, url = _start(start_server, 2)
    res = tools.curl(["--http1.1", *[srv.url_for("/hello")] * 20])
    assert res.result.stdout.count("Hello, world!\n") == 20
    before = settled(url)
    assert before.value("greenh2_requests_total") == 20
    victims = srv.children()
    assert len(victims) == 2
    os.kill(victims[0].pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = {p.pid for p in srv.children()}
        if len(pids) == 2 and victims[0].pid not in pids:
            break
        time.sleep(0.1)
    after = scrape(url)
    assert after.value("greenh2_requests_total") == 20
    assert delta(before, after, "greenh2_worker_restarts_total") == 1
    assert after.value("greenh2_connections") == 0


def test_multiprocess_directory_removed_at_exit(start_server):
    srv, url = _start(start_server, 2)
    tools.curl(["--http1.1", srv.url_for("/hello")])
    # The master counts worker restarts into its own file: counter_<master pid>.db.
    files = glob.glob(os.path.join(tempfile.gettempdir(), "greenh2-metrics-*",
                                   "counter_%d.db" % srv.pid))
    assert len(files) == 1, files
    path = os.path.dirname(files[0])
    assert srv.terminate() == 0
    assert not os.path.exists(path)


def test_limit_trips_http1_slowloris_and_pool(start_server):
    """414 and 431 answers (a header, and a trailer section met while the app reads), a client that never finishes its head (handshake_timeout) and a
    full connection pool each count once under their limit's name."""
    # handshake_timeout 2 s: both idle connections must be in the pool together (the cap trip)
    # before the first times out, even when the server accepts slowly on a loaded machine
    srv, url = _start(start_server, 1, ["--handshake-timeout", "2", "--worker-connections", "2",
                                        "--limit-request-line", "100"])
    before = settled(url)
    assert tools.curl(["--http1.1", srv.url_for("/" + "a" * 200)]).status == 414
    assert tools.curl(["--http1.1", "-H", "X-Big: " + "b" * 9000, srv.url_for("/hello")]).status == 431
    # /sha256 reads the whole body before it answers (an echo would stream its first chunk back
    # as it arrives, and then there is no 431 to send)
    trailer = (b"POST /sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"1\r\na\r\n0\r\nX-T: " + b"t" * 9000 + b"\r\n\r\n")
    resp, _, sock = http1.request(srv.port, trailer, method="POST")
    sock.close()
    assert resp.status == 431
    settled(url)
    # the earlier connections' greenlets have left the pool (a leftover one would make the
    # first idle connection below fill the pool: a second worker_connections trip)
    wait_for(lambda: ctl_json(["-s", srv.control_path, "stats"])["live"]["connections"] == 0,
             what="an empty connection pool")
    # counted from here: above, one curl's connection may still be lingering in the pool (1 s
    # at most, reading what the peer still sends) when the next connects, a legitimate trip
    # on a loaded machine
    pool_before = scrape(url)
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
    try:
        idle[0].sendall(b"GET / HTTP/1.1\r\n")  # never finished
        # both time out after 2 s (handshake_timeout)
        wait_for(lambda: delta(before, scrape(url), "greenh2_limit_trips_total",
                               limit="slowloris") >= 2, what="2 slowloris trips")
    finally:
        for s in idle:
            s.close()
    after = settled(url)
    assert delta(before, after, "greenh2_limit_trips_total", limit="request_line") == 1
    assert delta(before, after, "greenh2_limit_trips_total", limit="request_fields") == 2
    assert delta(before, after, "greenh2_limit_trips_total", limit="slowloris") == 2
    assert delta(pool_before, after, "greenh2_limit_trips_total", limit="worker_connections") == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_port_in_use_is_one_line_exit_2(workers):
    from support.server import run_cli
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_cli(["-b", "127.0.0.1:0", "-w", workers, "--metrics-bind", "127.0.0.1:%d" % port,
                       "apps:app"], timeout=20)
    assert res.returncode == 2, res
    errors = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()]
    assert errors == ["greenh2: error: cannot listen on 127.0.0.1:%d for metrics: "
                      "Address already in use" % port], res.stderr


def test_metrics_bind_must_be_host_port():
    from support.server import run_cli
    res = run_cli(["--metrics-bind", "unix:/tmp/x.sock"], timeout=20)
    assert res.returncode == 2
    assert res.stderr.strip() == "greenh2: error: metrics_bind 'unix:/tmp/x.sock': use HOST:PORT"


@pytest.mark.parametrize("workers", [1, 2])
def test_websockets_gauge(start_server, workers):
    """The WebSocket layer's websocket_opened/closed events (the generic observer entry) move
    greenh2_websockets; counted in the worker, aggregated where the listener runs."""
    from websockets.sync.client import connect
    srv = start_server(["--metrics-bind", "127.0.0.1:0", "-w", str(workers)],
                       app="websocket_apps:app")
    url = metrics_url(srv)
    ws_url = srv.url_for("/echo").replace("http://", "ws://")
    with connect(ws_url, open_timeout=5, close_timeout=5) as a, \
            connect(ws_url, open_timeout=5, close_timeout=5) as b:
        a.send("x")
        b.send("y")
        assert (a.recv(timeout=5), b.recv(timeout=5)) == ("x", "y")
        deadline = time.monotonic() + 5  # the opened event follows the handshake response
        while scrape(url).value("greenh2_websockets", protocol="http/1.1") != 2 \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scrape(url).value("greenh2_websockets", protocol="http/1.1") == 2
    after = settled(url)
    assert after.value("greenh2_websockets") == 0
    assert after.value("greenh2_requests_total", protocol="http/1.1", status="1xx") == 2
