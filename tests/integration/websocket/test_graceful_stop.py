"""Graceful stop with 100 open WebSockets (60 over HTTP/1.1, 40 over HTTP/2 streams on 4
connections): SIGTERM closes every one with 1001 Going Away, each app receive loop ends
normally, and the process exits well within graceful_timeout."""
import contextlib
import signal
import socket
import time
import urllib.request

from support.h2raw import H2Client
from support.ws_h2 import H2WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from wsproto.events import CloseConnection

H1_SOCKETS, H2_CONNECTIONS, H2_PER_CONNECTION = 60, 4, 10
GRACE = 15.0


def test_sigterm_closes_every_websocket_with_1001(start_server):
    srv = start_server(["--graceful-timeout", str(GRACE)], app="websocket_apps:app")
    with contextlib.ExitStack() as stack:
        h1 = [stack.enter_context(connect(f"ws://127.0.0.1:{srv.port}/echo-logged",
                                          ping_interval=None, close_timeout=5))
              for _ in range(H1_SOCKETS)]
        _stop_and_check(srv, h1)


def _stop_and_check(srv, h1):
    clients = [H2Client("127.0.0.1", srv.port) for _ in range(H2_CONNECTIONS)]
    h2 = []
    for c in clients:
        for _ in range(H2_PER_CONNECTION):
            ws = H2WebSocket(c, "/echo-logged")
            assert ws.wait_response().status == 200
            h2.append(ws)
    for ws in h1:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"
    for ws in h2:
        ws.send("hi")
        assert ws.recv() == "hi"

    started = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    codes = []
    for ws in h1:
        try:
            ws.recv(timeout=GRACE)
        except ConnectionClosed as exc:
            codes.append(exc.rcvd.code if exc.rcvd else None)
    for ws in h2:
        event = ws.recv(timeout=GRACE)
        assert isinstance(event, CloseConnection)
        codes.append(event.code)
        ws.send_raw(ws.ws.send(event.response()))  # the client completes the closing handshake
    assert codes == [1001] * (H1_SOCKETS + H2_CONNECTIONS * H2_PER_CONNECTION)
    for c in clients:
        c.read_events(until=lambda cl: cl.closed, timeout=GRACE)
        assert c.goaway is not None
    assert srv.wait(GRACE) == 0
    elapsed = time.monotonic() - started
    assert elapsed < GRACE / 2, f"stop took {elapsed:.1f}s"
    err = srv.stderr_text()
    assert "Traceback" not in err, err[-3000:]
    assert err.count("echo loop ended: closed=True") == 100
    for c in clients:
        c.close()


def _expect_1001(ws, timeout=15.0):
    try:
        ws.recv(timeout=timeout)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    return "no close"


def test_max_requests_recycle_closes_with_1001(start_server):
    srv = start_server(["--max-requests", "3", "--graceful-timeout", "10"], app="websocket_apps:app")
    with connect(f"ws://127.0.0.1:{srv.port}/echo", ping_interval=None) as ws:
        ws.send("a")
        assert ws.recv(timeout=5) == "a"
        for _ in range(3):
            urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/plain", timeout=5).read()
        assert _expect_1001(ws) == 1001
    assert srv.wait(10) == 0


def test_sighup_reload_with_workers_closes_with_1001(start_server):
    srv = start_server(["--workers", "2", "--graceful-timeout", "10"], app="websocket_apps:app")
    old = srv.wait_serving(count=2)  # the first workers' pids
    with connect(f"ws://127.0.0.1:{srv.port}/echo", ping_interval=None) as ws:
        ws.send("a")
        assert ws.recv(timeout=5) == "a"
        srv.send_signal(signal.SIGHUP)
        assert _expect_1001(ws) == 1001
    # An old worker accepts until the new ones serve (a reload drops nothing), and a WebSocket
    # it accepts then gets its own 1001 when it stops: the next one waits for the old workers
    # to be gone, so it surely reaches a new worker.
    for pid in old:
        assert srv.wait_for_stderr(rf"\[{pid}\] \[INFO\] stopped", timeout=15), srv.stderr_text()
    with connect(f"ws://127.0.0.1:{srv.port}/echo", ping_interval=None) as ws:  # new workers
        ws.send("b")
        assert ws.recv(timeout=5) == "b"
    assert "Traceback" not in srv.stderr_text()


# A WebSocket that opens after the graceful stop began: the server still serves what a client
# sends before it is told to go (the GOAWAY of a busy h2 connection waits, http2/drain.py; the
# first request of a connection accepted before the stop is answered), so such a WebSocket is
# accepted too, and must get its 1001 like the others rather than live on until
# graceful_timeout and end without a close frame (the soak saw RST_STREAM(CANCEL) through
# HAProxy, which keeps sending new RFC 8441 streams on the draining connection).
LATE_GRACE = 10.0


def test_websocket_opened_on_a_draining_h2_connection_gets_1001(start_server):
    srv = start_server(["--graceful-timeout", str(LATE_GRACE)], app="soak.soak_app:app")
    with H2Client("127.0.0.1", srv.port) as client:
        busy = client.get("/sleep?s=3&note=busy")  # keeps the connection's GOAWAY deferred
        assert srv.wait_for_stderr(r"apps: in /sleep busy", timeout=10)
        started = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert srv.wait_for_stderr(r"graceful stop", timeout=10)
        assert client.goaway is None
        ws = H2WebSocket(client, "/echo")
        assert ws.wait_response().status == 200
        event = ws.recv(timeout=LATE_GRACE / 2)
        assert isinstance(event, CloseConnection) and event.code == 1001, event
        ws.send_raw(ws.ws.send(event.response()))
        assert client.wait_stream(busy, timeout=LATE_GRACE).status == 200
        client.read_events(until=lambda c: c.closed, timeout=LATE_GRACE)
        # END_STREAM, not a reset at the graceful deadline (a RST_STREAM(NO_ERROR) after it only
        # says the server wants no more of our side, RFC 9113 §8.1)
        assert ws.result.ended and ws.result.reset in (None, 0), ws.result
    assert srv.wait(LATE_GRACE) == 0
    assert time.monotonic() - started < LATE_GRACE / 2
    assert "graceful timeout" not in srv.stderr_text()


def test_websocket_upgrade_as_first_request_after_the_stop_gets_1001(start_server):
    srv = start_server(["--graceful-timeout", str(LATE_GRACE)], app="websocket_apps:app")
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    time.sleep(0.2)  # accepted (or in the accept queue, which a stop serves too)
    started = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    assert srv.wait_for_stderr(r"graceful stop", timeout=10)
    with connect(f"ws://127.0.0.1:{srv.port}/echo", sock=sock, ping_interval=None,
                 close_timeout=5) as ws:
        assert _expect_1001(ws, timeout=LATE_GRACE / 2) == 1001
    assert srv.wait(LATE_GRACE) == 0
    assert time.monotonic() - started < LATE_GRACE / 2
    assert "graceful timeout" not in srv.stderr_text()
