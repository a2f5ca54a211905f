"""The `websockets` library's sync client against greenh2 over ws:// and wss:// (HTTP/1.1
Upgrade, RFC 6455): messages of both kinds, fragments, ping/pong, close codes,
permessage-deflate, 1009 beyond ws_max_message_size (262144 in these servers)."""
import json
import socket

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Opcode
from websockets.sync.client import connect

SCHEMES = ["ws", "wss"]


@pytest.fixture(params=SCHEMES)
def open_ws(request, ws_servers):
    scheme = request.param

    def opener(path="/echo", **kw):
        return connect(ws_servers.url(scheme, path), open_timeout=5, close_timeout=5,
                       **ws_servers.connect_kw(scheme), **kw)
    opener.scheme = scheme
    return opener


def test_text_and_binary_echo(open_ws):
    with open_ws() as ws:
        ws.send("héllo wörld")
        assert ws.recv(timeout=5) == "héllo wörld"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(timeout=5) == b"\x00\xffbinary"
        ws.send("")
        assert ws.recv(timeout=5) == ""


def test_environ_looks_like_an_upgrade(open_ws):
    with open_ws("/info?x=1", origin="http://example.test") as ws:
        info = json.loads(ws.recv(timeout=5))
    assert info["REQUEST_METHOD"] == "GET" and info["HTTP_UPGRADE"] == "websocket"
    assert info["greenh2.protocol"] == "http/1.1" and info["wsgi.websocket_version"] == "13"
    assert info["QUERY_STRING"] == "x=1" and info["origin"] == "http://example.test"


def test_fragmented_message_is_reassembled(open_ws):
    with open_ws() as ws:
        ws.send(["frag", "ment", "ed ", "text"])
        assert ws.recv(timeout=5) == "fragmented text"
        ws.send([b"a" * 1000, b"b" * 70000, b"c"])
        assert ws.recv(timeout=5) == b"a" * 1000 + b"b" * 70000 + b"c"


def test_ping_pong_both_ways(open_ws):
    with open_ws(ping_interval=None) as ws:
        waiter = ws.ping(b"are you there")
        assert waiter.wait(5)
        ws.send("still open")
        assert ws.recv(timeout=5) == "still open"


def test_server_pings_when_idle(ws_servers, start_server):
    srv = start_server(["--ws-ping-interval", "0.3", "--ws-pong-timeout", "2"], app="websocket_apps:app")
    seen = []
    # websockets answers pings by itself: count the pongs its protocol object sends
    with connect(f"ws://127.0.0.1:{srv.port}/echo", ping_interval=None) as ws:
        original = ws.protocol.send_frame

        def record(frame):
            if frame.opcode is Opcode.PONG:
                seen.append(bytes(frame.data))
            return original(frame)
        ws.protocol.send_frame = record
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.2)
        ws.send("alive")
        assert ws.recv(timeout=5) == "alive"
    assert len(seen) >= 2


def test_server_drops_peer_that_never_answers_pings(start_server):
    srv = start_server(["--ws-ping-interval", "0.3", "--ws-pong-timeout", "0.5"], app="websocket_apps:app")
    # A raw client that completes the handshake, then neither reads nor answers.
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 101 ")
    assert b"\x89" in data  # a ping frame went out
    assert data.endswith(b"\x88\x0e\x03\xf3ping timeout")  # then Close 1011, and EOF


def test_close_codes(open_ws):
    with open_ws("/close?code=4001&reason=bye") as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 4001 and info.value.rcvd.reason == "bye"


def test_client_close_code_reaches_server_and_is_echoed(open_ws):
    with open_ws() as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
        ws.close(code=4002, reason="client done")
        assert ws.close_code == 4002  # RFC 6455 §5.5.1: the server echoes the code


def test_permessage_deflate_negotiated_and_used(open_ws):
    with open_ws() as ws:
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        body = "compress me " * 10000  # 120 kB that deflates to very little
        ws.send(body)
        assert ws.recv(timeout=5) == body


def test_no_deflate_when_not_offered(open_ws):
    with open_ws(compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv(timeout=5) == "plain"


def test_oversized_message_closed_with_1009(open_ws):
    with open_ws(compression=None, max_size=None) as ws:
        ws.send(b"x" * 262145)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_largest_allowed_message_passes(open_ws):
    with open_ws(max_size=None) as ws:
        ws.send(b"y" * 262144)
        assert ws.recv(timeout=5) == b"y" * 262144


def test_oversized_fragmented_message_closed_with_1009(open_ws):
    with open_ws(compression=None) as ws:
        with pytest.raises(ConnectionClosed) as info:
            # the 1009 close may arrive while the fragments are still being sent (TCP_NODELAY)
            ws.send([b"z" * 65536 for _ in range(5)])
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 1009


def test_subprotocol_chosen_by_app(open_ws):
    with open_ws("/subprotocol", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(timeout=5) == "chat.v2"


def test_app_without_websocket_support_answers_normally(open_ws):
    with pytest.raises(InvalidStatus) as info:
        with open_ws("/not-a-websocket-route"):
            pass
    assert info.value.response.status_code == 200
    assert info.value.response.body == b"no websocket here\n"


def test_bad_version_gets_426(ws_servers):
    sock = socket.create_connection(("127.0.0.1", ws_servers.plain.port), timeout=5)
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 426 ") and b"sec-websocket-version: 13" in head.lower()


def test_bad_key_gets_400(ws_servers):
    sock = socket.create_connection(("127.0.0.1", ws_servers.plain.port), timeout=5)
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_no_tracebacks(ws_servers):
    for server in (ws_servers.tls, ws_servers.plain):
        assert server.alive()
        assert "Traceback" not in server.stderr_text(), server.stderr_text()[-3000:]


def test_frames_sent_with_the_handshake_are_not_lost(ws_servers):
    """Bytes right behind the request head (already buffered by the HTTP/1.1 reader) are the
    WebSocket's first bytes."""
    from wsproto.frame_protocol import FrameProtocol, Opcode
    frame = bytes(FrameProtocol(client=True, extensions=[])._serialize_frame(Opcode.TEXT, b"early", True))
    sock = socket.create_connection(("127.0.0.1", ws_servers.plain.port), timeout=5)
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                 + frame)
    data = b""
    while not data.endswith(b"\x81\x05early"):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    assert data.startswith(b"HTTP/1.1 101 ")


def test_websocket_with_threads(start_server):
    """--threads runs ordinary requests in OS threads; a WebSocket request stays in its greenlet."""
    srv = start_server(["--threads", "2"], app="websocket_apps:app")
    with connect(f"ws://127.0.0.1:{srv.port}/echo") as ws:
        ws.send("threaded server")
        assert ws.recv(timeout=5) == "threaded server"
    with pytest.raises(InvalidStatus):  # the ordinary response still comes from a thread
        with connect(f"ws://127.0.0.1:{srv.port}/plain"):
            pass
    assert "Traceback" not in srv.stderr_text()
