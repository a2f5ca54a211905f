"""flask-sock (simple-websocket) routes, unchanged, over HTTP/1.1 and HTTP/2, TLS and cleartext.

HTTP/1.1: the `websockets` client, and a raw socket that checks nothing but WebSocket frames
follows the 101 (flask-sock's own response after the WebSocket ends is dropped) and that the
connection closes afterwards. HTTP/2: a raw h2 client opens an RFC 8441 extended CONNECT and
drives a wsproto client over the stream; simple-websocket's 101 must arrive as `:status 200`
with its extension answer, the frames as DATA, and the connection must carry on.
"""
import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.h2raw import H2Client
from support.http1 import Reader, connect, read_response
from support.server import ServerProcess
from support.ws_h2 import H2WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)

APP = "ws_apps:app"


@pytest.fixture(scope="module")
def servers(certs):
    tls = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile, APP],
                        start_timeout=30)
    plain = ServerProcess([APP], start_timeout=30)
    try:
        with ThreadPoolExecutor() as pool:  # importing Flask takes a while on a busy machine
            list(pool.map(ServerProcess.start, (tls, plain)))
        yield {"wss": tls, "ws": plain}
        for s in (tls, plain):
            assert s.alive(), s.stderr_text()[-3000:]
            assert "Traceback" not in s.stderr_text(), s.stderr_text()[-3000:]
    finally:
        tls.close()
        plain.close()


def _ssl(scheme):
    if scheme != "wss":
        return None
    from support.h2raw import client_ssl_context
    return client_ssl_context(alpn=("http/1.1",))


# --- HTTP/1.1 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_flask_sock_over_http1(servers, scheme):
    port = servers[scheme].port
    with ws_connect(f"{scheme}://127.0.0.1:{port}/sock/info", ssl=_ssl(scheme),
                    open_timeout=5, close_timeout=5) as ws:
        seen = json.loads(ws.recv(timeout=5))
        assert seen["greenh2.protocol"] == "http/1.1" and seen["REQUEST_METHOD"] == "GET"
        assert seen["wsgi.url_scheme"] == ("https" if scheme == "wss" else "http")
        ws.send("text é")
        assert ws.recv(timeout=5) == "text é"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=5) == b"\x00\x01binary"
        big = "x" * 300_000
        ws.send(big)
        assert ws.recv(timeout=10) == big
        # websockets offers permessage-deflate; simple-websocket accepts it
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]
    assert ws.close_code == 1000


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_http1_connection_carries_only_frames_after_101_and_closes(servers, scheme):
    port = servers[scheme].port
    sock = connect(port, tls=scheme == "wss")
    client = WSConnection(ConnectionType.CLIENT)
    sock.sendall(client.send(Request(host=f"127.0.0.1:{port}", target="/sock/echo")))
    sock.settimeout(5)
    events = []
    while not any(isinstance(e, AcceptConnection) for e in events):
        data = sock.recv(65536)
        assert data, "closed during the handshake"
        client.receive_data(data)
        events += list(client.events())
    sock.sendall(client.send(TextMessage(data="one")))
    while not any(isinstance(e, TextMessage) for e in events):
        data = sock.recv(65536)
        assert data, "closed before the echo"
        client.receive_data(data)
        events += list(client.events())
    assert [e.data for e in events if isinstance(e, TextMessage)] == ["one"]
    sock.sendall(client.send(CloseConnection(code=1000)))
    raw = bytearray()
    while True:  # read to EOF: the server must close the connection after the WebSocket
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, OSError):
            break
        if not data:
            break
        raw += data
    sock.close()
    assert b"HTTP/1.1" not in raw, "an HTTP response followed the WebSocket: %r" % raw[-200:]
    client.receive_data(bytes(raw))
    got = list(client.events())
    assert [type(e).__name__ for e in got] == ["CloseConnection"] and got[0].code == 1000


def test_upgrade_to_ordinary_route_gets_ordinary_response(servers):
    """Flask answers a WebSocket request to a non-WebSocket route with its own 400
    (werkzeug's WebsocketMismatch): that response goes out as is and the connection lives on."""
    port = servers["ws"].port
    sock = connect(port)
    client = WSConnection(ConnectionType.CLIENT)
    sock.sendall(client.send(Request(host=f"127.0.0.1:{port}", target="/plain")))
    reader = Reader(sock)
    resp = read_response(reader)
    assert resp.status == 400 and b"Bad Request" in resp.body, resp
    assert resp.header("upgrade") is None
    sock.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
    resp = read_response(reader)
    sock.close()
    assert resp.status == 200 and resp.body == b"plain answer\n"


# --- HTTP/2 (RFC 8441) ---------------------------------------------------------------------------

def _open(client, path, **kw):
    assert client.remote_settings.get(0x8) == 1, "SETTINGS_ENABLE_CONNECT_PROTOCOL missing"
    ws = H2WebSocket(client, path, **kw)
    stream = ws.wait_response()
    assert stream.status == 200, stream.headers  # RFC 8441 §5, not 101
    return ws, stream


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_flask_sock_over_http2(servers, scheme):
    port = servers[scheme].port
    with H2Client("127.0.0.1", port, tls=scheme == "wss") as client:
        ws, stream = _open(client, "/sock/info")
        names = [n for n, _ in stream.headers]
        assert "sec-websocket-accept" not in names and "upgrade" not in names
        seen = json.loads(ws.recv())
        assert seen["greenh2.protocol"] == "h2" and seen["greenh2.stream_id"] == ws.stream_id
        assert seen["REQUEST_METHOD"] == "GET" and seen["HTTP_UPGRADE"].lower() == "websocket"
        ws.send("over h2")
        ws.send(b"\xff" * 10)
        assert [ws.recv(), ws.recv()] == ["over h2", b"\xff" * 10]
        big = b"y" * 500_000  # more than the stream windows: flow control both ways
        ws.send(big)
        assert ws.recv(timeout=20) == big
        ws.close(1000)
        closing = ws.recv()
        assert isinstance(closing, CloseConnection) and closing.code == 1000
        client.end_stream(ws.stream_id)
        client.read_events(until=lambda c: stream.done)
        assert stream.reset is None and stream.ended
        # one HEADERS on the stream (the 200): flask-sock's own response was dropped
        headers = [f for f in client.frames if f[0] == "HEADERS" and f[2] == ws.stream_id]
        assert len(headers) == 1, client.frames
        # the connection carries on
        sid = client.get("/plain")
        assert client.wait_stream(sid).status == 200


def test_flask_sock_over_http2_with_permessage_deflate(servers):
    port = servers["wss"].port
    with H2Client("127.0.0.1", port, tls=True) as client:
        ws, stream = _open(client, "/sock/echo", deflate=True)
        assert stream.header("sec-websocket-extensions", "").startswith("permessage-deflate")
        text = "compressible " * 5000
        ws.send(text)
        assert ws.recv() == text
        # compressed on the wire: far fewer DATA bytes than the message
        assert len(stream.data) < len(text) // 10


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_route_that_returns_closes_the_websocket_and_ends_the_stream(servers, scheme):
    """flask-sock closes (1000) when the route returns; the server waits for the closing
    handshake and ends the CONNECT stream with END_STREAM (RFC 8441 §6), not a reset."""
    with H2Client("127.0.0.1", servers[scheme].port, tls=scheme == "wss") as client:
        ws, stream = _open(client, "/sock/once")
        assert ws.recv() == "bye"
        close = ws.recv()
        assert isinstance(close, CloseConnection) and close.code == 1000
        ws.send_raw(ws.ws.send(close.response()))
        client.read_events(until=lambda c: stream.done)
        assert stream.ended and stream.reset is None, stream


# --- simple-websocket's ping_interval, graceful stop ----------------------------------------------

@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_simple_websocket_pings_over_http2(start_server, certs, scheme):
    """SOCK_SERVER_OPTIONS ping_interval makes simple-websocket select() on the socket: the
    stream-backed socket must poll readable exactly when bytes wait, or pings never stop."""
    args = ["--certfile", certs.certfile, "--keyfile", certs.keyfile] if scheme == "wss" else []
    server = start_server(args, app="ws_apps:ping_app", start_timeout=30)
    with H2Client("127.0.0.1", server.port, tls=scheme == "wss") as client:
        ws, stream = _open(client, "/sock/echo",
                           headers=[("sec-websocket-protocol", "chat.v2, chat.v1")])
        assert stream.header("sec-websocket-protocol") == "chat.v1"  # RFC 8441 §5 keeps it
        pings = 0
        while pings < 3:
            event = ws.next_event(timeout=5)
            assert isinstance(event, Ping), event
            ws.send_raw(ws.ws.send(event.response()))
            pings += 1
        ws.send("still open")
        assert ws.recv() == "still open"


def test_simple_websocket_pings_over_http1(start_server):
    server = start_server([], app="ws_apps:ping_app", start_timeout=30)
    with ws_connect(f"ws://127.0.0.1:{server.port}/sock/echo", open_timeout=5) as ws:
        time.sleep(1.2)  # four ping intervals: pings answered (by websockets), not a 1008 close
        ws.send("after pings")
        assert ws.recv(timeout=5) == "after pings"


def test_graceful_stop_closes_flask_sock_websockets_with_1001(start_server, certs):
    # --log-level debug: a rare handshake timeout here (2 of 6 loaded suite runs, never alone)
    # is still unexplained; the log says whether the app was called and the 101 written
    server = start_server(["--certfile", certs.certfile, "--keyfile", certs.keyfile,
                           "--graceful-timeout", "5", "--log-level", "debug"], app=APP,
                          start_timeout=30)
    with ws_connect(f"wss://127.0.0.1:{server.port}/sock/until-closed", ssl=_ssl("wss"),
                    open_timeout=5) as h1, H2Client("127.0.0.1", server.port, tls=True) as client:
        h1.send("h1 up")
        assert h1.recv(timeout=5) == "h1 up"
        h2, _ = _open(client, "/sock/until-closed")
        h2.send("h2 up")
        assert h2.recv() == "h2 up"
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        close = h2.recv()
        assert isinstance(close, CloseConnection) and close.code == 1001, close
        h2.send_raw(h2.ws.send(close.response()))
        with pytest.raises(ConnectionClosed):
            h1.recv(timeout=5)
        assert h1.close_code == 1001
        assert server.wait(8.0) == 0, server.stderr_text()[-3000:]
        assert time.monotonic() - started < 8.0
    text = server.stderr_text()
    assert text.count("route saw close 1001") == 2, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_flask_sock_websocket_opened_after_the_stop_began_gets_1001(start_server):
    """The first request of a connection accepted before the stop is still served; when it is a
    flask-sock WebSocket, the 1001 follows simple-websocket's handshake (compat.PipeSocket)
    rather than the WebSocket living on until graceful_timeout."""
    server = start_server(["--graceful-timeout", "10"], app=APP, start_timeout=30)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    time.sleep(0.2)  # accepted (or queued: a stop serves the accept queue too)
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait_for_stderr(r"graceful stop", timeout=10)
    with ws_connect(f"ws://127.0.0.1:{server.port}/sock/until-closed", sock=sock,
                    open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1001
    assert server.wait(10) == 0, server.stderr_text()[-3000:]
    assert time.monotonic() - started < 5.0
    assert "route saw close 1001" in server.stderr_text()
