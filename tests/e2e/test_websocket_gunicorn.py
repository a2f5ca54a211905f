"""WebSocket under a real gunicorn arbiter (`-k greenh2.worker`, TLS): the same code path as
the standalone server, over HTTP/1.1 (wss://) and HTTP/2 (RFC 8441); gunicorn's own
`--websocket-max-message-size` is honoured; SIGTERM closes open WebSockets with 1001."""
import signal
import ssl

import pytest
from support.h2raw import H2Client
from support.ws_h2 import H2WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from wsproto.events import CloseConnection


@pytest.fixture
def ws_gunicorn(gunicorn, certs):
    return gunicorn(["--websocket-max-message-size", "1000", "--graceful-timeout", "10"],
                    app="websocket_apps:app", workers=1, tls=certs,
                    env={"GREENH2_WS_PING_INTERVAL": "0"})


def _ctx(certs):
    ctx = ssl.create_default_context(cafile=certs.certfile)
    ctx.check_hostname = False
    return ctx


def test_websocket_under_gunicorn(ws_gunicorn, certs):
    g = ws_gunicorn
    with connect(f"wss://127.0.0.1:{g.port}/echo", ssl=_ctx(certs)) as ws:
        ws.send("over gunicorn")
        assert ws.recv(timeout=5) == "over gunicorn"
        ws.send(b"x" * 1001)  # gunicorn's websocket_max_message_size, mapped
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1009
    with H2Client("127.0.0.1", g.port, tls=True, cafile=certs.certfile) as c:
        ws = H2WebSocket(c, "/echo")
        assert ws.wait_response().status == 200
        ws.send("rfc 8441 under gunicorn")
        assert ws.recv() == "rfc 8441 under gunicorn"


def test_sigterm_closes_websockets_with_1001(ws_gunicorn, certs):
    g = ws_gunicorn
    with connect(f"wss://127.0.0.1:{g.port}/echo", ssl=_ctx(certs)) as ws, \
            H2Client("127.0.0.1", g.port, tls=True, cafile=certs.certfile) as c:
        h2ws = H2WebSocket(c, "/echo")
        assert h2ws.wait_response().status == 200
        ws.send("a")
        assert ws.recv(timeout=5) == "a"
        g.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd.code == 1001
        event = h2ws.recv(timeout=10)
        assert isinstance(event, CloseConnection) and event.code == 1001
        h2ws.send_raw(h2ws.ws.send(event.response()))
    assert g.wait_exit(10) == 0
    assert "Traceback" not in g.log_text()
