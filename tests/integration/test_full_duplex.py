"""Full duplex and cancellation on a live server (tests/duplex_app.py), HTTP/2 raw client.

A streaming request body (no Content-Length) is readable as it arrives: the handler answers a
15-byte message while the client, which has not ended its body, waits for that answer. A body
with a Content-Length keeps file semantics. A client's RST_STREAM(CANCEL) stops a handler that
sleeps in time.sleep at once, with StreamCancelled, and sets environ['greenh2.cancelled']."""
import json
import time

import pytest
from h2.errors import ErrorCodes
from support.h2raw import H2Client
from support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def server():
    with ServerProcess(["--log-level", "debug", "duplex_app:app"]) as srv:
        yield srv


@pytest.fixture
def client(server):
    start = len(server.stderr_lines())
    with H2Client("127.0.0.1", server.port) as c:
        yield c
    assert server.alive()
    assert "Traceback" not in "\n".join(server.stderr_lines()[start:])


def test_ping_pong_each_message_answered_before_the_next_is_sent(client):
    sid = client.send_headers(client.request_headers("POST", "/duplex"), end_stream=False)
    expected = b""
    for i in range(5):
        message = b"ping number %03d" % i  # 15 bytes, far below the app's read(4096)
        client.send_data(sid, message)
        expected += b"got 15:%s\n" % message
        client.read_events(until=lambda c, want=expected: bytes(c.streams[sid].data) == want, timeout=5)
    client.end_stream(sid)
    st = client.wait_stream(sid)
    assert st.status == 200 and bytes(st.data) == expected and st.reset is None


def test_content_length_body_read_in_whole_blocks_even_when_it_arrives_in_pieces(client):
    sid = client.send_headers(client.request_headers("POST", "/fixed", [("content-length", "10")]))
    for piece in (b"ab", b"cde", b"fghij"):
        client.send_data(sid, piece)
        time.sleep(0.05)
    client.end_stream(sid)
    st = client.wait_stream(sid)
    assert json.loads(bytes(st.data)) == ["abcd", "efgh", "ij"]


def wait_seen(client, key, state, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        sid = client.get("/seen?" + key)
        got = json.loads(bytes(client.wait_stream(sid).data))
        if got and got["state"] == state:
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.05)


def test_client_reset_interrupts_a_sleeping_handler(client):
    sid = client.get("/sleep?reset")
    wait_seen(client, "reset", "sleeping")
    client.reset_stream(sid, ErrorCodes.CANCEL)
    got = wait_seen(client, "reset", "interrupted", timeout=3)
    assert got["exception"] == "StreamCancelled" and got["cancelled"] is True
    assert got["elapsed"] < 4, got  # well before its 5 s sleep would have ended


def test_client_disconnect_interrupts_a_sleeping_handler(server, client):
    with H2Client("127.0.0.1", server.port) as other:
        other.get("/sleep?gone")
        wait_seen(client, "gone", "sleeping")
    got = wait_seen(client, "gone", "interrupted", timeout=3)
    assert got["exception"] == "StreamCancelled" and got["cancelled"] is True


def test_threads_mode_handler_sees_the_cancelled_signal(start_server):
    srv = start_server(["--threads", "2", "--log-level", "debug"], app="duplex_app:app")
    with H2Client("127.0.0.1", srv.port) as c:
        sid = c.get("/poll?threads")
        wait_seen(c, "threads", "sleeping")
        c.reset_stream(sid, ErrorCodes.CANCEL)
        got = wait_seen(c, "threads", "interrupted", timeout=3)
    assert got["elapsed"] < 4 and "reset by client" in got["reason"], got
    assert "Traceback" not in srv.stderr_text()


def test_http11_chunked_ping_pong(server):
    """HTTP/1.1 too: a chunked request body is streaming, and each answer goes out at once."""
    import socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /duplex HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        received = b""
        for i in range(3):
            message = b"ping number %03d" % i
            sock.sendall(b"f\r\n%s\r\n" % message)
            want = b"got 15:%s\n" % message
            while want not in received:
                data = sock.recv(65536)
                assert data, received
                received += data
        sock.sendall(b"0\r\n\r\n")
        while not received.endswith(b"0\r\n\r\n"):
            data = sock.recv(65536)
            assert data, received
            received += data
    assert received.startswith(b"HTTP/1.1 200")
