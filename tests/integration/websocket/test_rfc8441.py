"""RFC 8441 (WebSocket over an HTTP/2 stream) with a raw h2 client and a wsproto client driven
over the stream's DATA frames."""
import json

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from support.h2raw import H2Client
from support.ws_h2 import H2WebSocket
from wsproto.events import CloseConnection

ENABLE_CONNECT_PROTOCOL = 0x8


@pytest.fixture(params=["h2c", "h2"])
def h2(request, ws_servers):
    tls = request.param == "h2"
    server = ws_servers.tls if tls else ws_servers.plain
    clients = []

    def factory(**kw):
        c = H2Client("127.0.0.1", server.port, tls=tls, cafile=ws_servers.certs.certfile, **kw)
        clients.append(c)
        return c
    yield factory
    for c in clients:
        c.close()


def _open(client, path="/echo", **kw):
    ws = H2WebSocket(client, path, **kw)
    assert ws.wait_response().status == 200
    return ws


def test_setting_in_first_settings_frame(h2):
    c = h2()
    assert c.settings_frames[0].get(ENABLE_CONNECT_PROTOCOL) == 1  # RFC 8441 §3
    assert c.remote_settings[SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1


def test_connect_gets_200_and_echo_works(h2):
    c = h2()
    ws = _open(c)
    assert ws.result.header("sec-websocket-accept") is None  # RFC 8441 §5: not used
    ws.send("hello over h2")
    assert ws.recv() == "hello over h2"
    ws.send(b"\x00\x01\x02")
    assert ws.recv() == b"\x00\x01\x02"
    ws.close(1000)
    reply = ws.recv()
    assert isinstance(reply, CloseConnection) and reply.code == 1000
    c.read_events(until=lambda cl: ws.result.done, timeout=5)
    assert ws.result.ended and ws.result.reset is None  # END_STREAM after the close (§6)


def test_app_sees_an_upgrade_get(h2):
    c = h2()
    ws = _open(c, "/info?q=1", headers=[("origin", "https://example.test")])
    info = json.loads(ws.recv())
    assert info["REQUEST_METHOD"] == "GET" and info["HTTP_UPGRADE"] == "websocket"
    assert info["HTTP_CONNECTION"] == "Upgrade" and len(info["HTTP_SEC_WEBSOCKET_KEY"]) == 24
    assert info["HTTP_SEC_WEBSOCKET_VERSION"] == "13" and info["SERVER_PROTOCOL"] == "HTTP/2.0"
    assert info["greenh2.protocol"] == "h2" and info["greenh2.stream_id"] == ws.stream_id
    assert info["QUERY_STRING"] == "q=1" and info["origin"] == "https://example.test"


def test_permessage_deflate_over_h2(h2):
    c = h2()
    ws = _open(c, deflate=True)
    assert "permessage-deflate" in ws.result.header("sec-websocket-extensions")
    body = "deflate me " * 5000
    ws.send(body)
    assert ws.recv() == body
    raw = len(ws.result.data)
    assert raw < len(body) // 10  # it really was compressed on the way back


def test_oversized_message_closed_with_1009(h2):
    c = h2()
    ws = _open(c)
    ws.send(b"x" * 262145)
    reply = ws.recv()
    assert isinstance(reply, CloseConnection) and reply.code == 1009


def test_other_streams_keep_working(h2):
    c = h2()
    ws = _open(c)
    for i in range(3):
        ws.send(f"m{i}")
        sid = c.get("/plain")
        assert c.wait_stream(sid).status == 200
        assert ws.recv() == f"m{i}"
    second = _open(c)
    second.send("two sockets, one connection")
    assert second.recv() == "two sockets, one connection"


def test_non_websocket_route_answers_normally(h2):
    c = h2()
    ws = H2WebSocket(c, "/no-such-websocket")
    st = ws.wait_response()
    c.wait_stream(ws.stream_id)
    assert st.status == 200 and bytes(st.data) == b"no websocket here\n"


def test_unknown_protocol_gets_501(h2):
    c = h2()
    ws = H2WebSocket(c, "/echo", protocol="webtransport")
    st = c.wait_stream(ws.stream_id)
    assert st.status == 501  # RFC 9220 §3
    sid = c.get("/plain")
    assert c.wait_stream(sid).status == 200


def test_bad_version_gets_400(h2):
    c = h2()
    ws = H2WebSocket(c, "/echo", version="8")
    st = c.wait_stream(ws.stream_id)
    assert st.status == 400 and st.header("sec-websocket-version") == "13"


def test_connect_without_path_is_malformed(h2):
    """RFC 8441 §4: :scheme and :path are required; h2 escalates the malformed request to a
    connection error (RFC 9113 §5.4.1 allows it)."""
    c = h2()
    c.conn.config.validate_outbound_headers = False
    sid = c.send_headers([(":method", "CONNECT"), (":protocol", "websocket"),
                          (":scheme", c.scheme), (":authority", c.authority),
                          ("sec-websocket-version", "13")])
    c.read_events(until=lambda cl: cl.streams[sid].reset is not None or cl.goaway is not None,
                  timeout=5)
    code = c.streams[sid].reset if c.streams[sid].reset is not None else c.goaway.error_code
    assert code == ErrorCodes.PROTOCOL_ERROR


def test_connect_protocol_refused_when_websocket_off(start_server):
    srv = start_server(["--no-websocket"], app="websocket_apps:app")
    with H2Client("127.0.0.1", srv.port) as c:
        assert c.settings_frames[0].get(ENABLE_CONNECT_PROTOCOL, 0) == 0
        ws = H2WebSocket(c, "/echo")
        st = c.wait_stream(ws.stream_id)
        assert st.reset == ErrorCodes.PROTOCOL_ERROR and st.status is None  # RFC 8441 §5
        sid = c.get("/plain")
        assert c.wait_stream(sid).status == 200


def test_flow_control_holds_for_10_mib_message(start_server):
    """10 MiB each way through a 16 KiB stream window the client controls: the server never
    sends past the client's window, and gives its own window back as it consumes."""
    srv = start_server(["--ws-max-message-size", str(16 << 20)], app="websocket_apps:app")
    size = 10 << 20
    with H2Client("127.0.0.1", srv.port, auto_ack=False,
                  local_settings={SettingCodes.INITIAL_WINDOW_SIZE: 16384}) as c:
        ws = _open(c)
        ws.send(b"\x5a" * size)  # send_body waits for the server's WINDOW_UPDATEs
        c.read_events(until=lambda cl: len(ws.result.data) >= 16384, timeout=10)
        c.read_events(timeout=0.5, raise_on_timeout=False)
        assert len(ws.result.data) <= 16384 + 9  # the window, not more (h2 would also raise)
        received, message = 0, None
        while message is None:
            got = len(ws.result.data)
            if got > received:
                c.acknowledge(ws.stream_id, got - received)
                received = got
            c.read_events(until=lambda cl, n=received: len(ws.result.data) > n, timeout=10)
            message = ws.poll()
        assert message.data == b"\x5a" * size
    assert "Traceback" not in srv.stderr_text()


def test_max_concurrent_streams_counts_websockets(start_server):
    srv = start_server(["--max-concurrent-streams", "2"], app="websocket_apps:app")
    with H2Client("127.0.0.1", srv.port) as c:
        c.force_stream_limit()
        first, second = _open(c), _open(c)
        third = H2WebSocket(c, "/echo")
        st = c.wait_stream(third.stream_id)
        assert st.reset == ErrorCodes.REFUSED_STREAM
        first.send("a")
        second.send("b")
        assert (first.recv(), second.recv()) == ("a", "b")
