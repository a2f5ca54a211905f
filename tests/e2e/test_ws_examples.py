"""The WebSocket examples, run for real the way the README shows them: `greenh2 --self-signed`
and `gunicorn -k greenh2.worker`, each with at least one exchange over HTTP/1.1 (the
`websockets` client) and over HTTP/2 (RFC 8441, raw h2 client).

examples/ws_echo.py is gevent-websocket style (environ['wsgi.websocket']); examples/
websocket_chat.py is flask-sock, and a message from one client reaches every connected client.
"""
import signal
import time

import pytest
from support.h2raw import H2Client, client_ssl_context
from support.ws_h2 import H2WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from wsproto.events import CloseConnection


def _h1(port, path):
    return ws_connect(f"wss://127.0.0.1:{port}{path}", ssl=client_ssl_context(("http/1.1",)),
                      open_timeout=5, close_timeout=5)


def _h2(client, path):
    ws = H2WebSocket(client, path)
    assert ws.wait_response().status == 200
    return ws


def _page(client, needle):
    sid = client.get("/")
    page = client.wait_stream(sid)
    assert page.status == 200 and needle in bytes(page.data), bytes(page.data)[:200]


def check_echo(port):
    with H2Client("127.0.0.1", port, tls=True) as client:
        _page(client, b'location.protocol === "https:" ? "wss://"')
        ws = _h2(client, "/")
        ws.send("over h2")
        ws.send(b"\x00bytes")
        assert [ws.recv(), ws.recv()] == ["over h2", b"\x00bytes"]
    with _h1(port, "/") as ws:
        ws.send("over h1")
        assert ws.recv(timeout=5) == "over h1"


def check_chat(port):
    with H2Client("127.0.0.1", port, tls=True) as client, _h1(port, "/chat") as h1:
        _page(client, b'new WebSocket(scheme + location.host + "/chat")')
        h2 = _h2(client, "/chat")
        h1.send("hello from h1")  # a route joins the room right after its handshake, without yielding
        assert h1.recv(timeout=5) == "hello from h1"
        assert h2.recv() == "hello from h1"
        h2.send("hello from h2")
        assert h2.recv() == "hello from h2"
        assert h1.recv(timeout=5) == "hello from h2"


EXAMPLES = {"examples.ws_echo:app": check_echo, "examples.websocket_chat:app": check_chat}


@pytest.mark.parametrize("app", sorted(EXAMPLES))
def test_example_with_greenh2_self_signed(start_server, app):
    # --log-level debug: see test_ws_flask_sock's graceful-stop test (a rare handshake timeout)
    server = start_server(["--self-signed", "--log-level", "debug"], app=app, start_timeout=30)
    EXAMPLES[app](server.port)
    assert "Traceback" not in server.stderr_text(), server.stderr_text()[-3000:]


@pytest.mark.parametrize("app", sorted(EXAMPLES))
def test_example_with_gunicorn_worker(gunicorn, certs, app):
    arbiter = gunicorn(app=app, tls=certs, workers=1, ready_path="/")
    EXAMPLES[app](arbiter.port)
    assert "Traceback" not in arbiter.log_text(), arbiter.log_text()[-3000:]


def test_chat_example_under_gunicorn_sigterm_closes_with_1001(gunicorn, certs):
    """gunicorn's SIGTERM reaches flask-sock WebSockets on both transports as 1001 Going Away;
    the arbiter exits within graceful_timeout."""
    arbiter = gunicorn(["--graceful-timeout", "10"], app="examples.websocket_chat:app", tls=certs,
                       workers=1, ready_path="/")
    with H2Client("127.0.0.1", arbiter.port, tls=True) as client, \
            _h1(arbiter.port, "/chat") as h1:
        h2 = _h2(client, "/chat")
        h1.send("before the stop")
        assert h2.recv() == "before the stop" and h1.recv(timeout=5) == "before the stop"
        started = time.monotonic()
        arbiter.signal(signal.SIGTERM)
        close = h2.recv(timeout=10)
        assert isinstance(close, CloseConnection) and close.code == 1001, close
        h2.send_raw(h2.ws.send(close.response()))
        with pytest.raises(ConnectionClosed):
            h1.recv(timeout=10)
        assert h1.close_code == 1001
    assert arbiter.wait_exit(15) == 0, arbiter.log_text()[-3000:]
    assert time.monotonic() - started < 12
    assert "Traceback" not in arbiter.log_text(), arbiter.log_text()[-3000:]
