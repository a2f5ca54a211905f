"""Flask-SocketIO (python-socketio server, gevent async mode) on greenh2, unchanged, with the
python-socketio client: `polling` and `websocket` transports, emit/ack round trips, and an
event the server emits back. The websocket transport runs on `environ['wsgi.websocket']`.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio
from support.server import ServerProcess
from support.tls_client import serialized_context

APP = "socketio_app:app"


@pytest.fixture(scope="module")
def servers(certs):
    tls = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile, APP],
                        start_timeout=30)
    plain = ServerProcess([APP], start_timeout=30)
    # python-engineio without gevent-websocket: its websocket transport on simple-websocket
    simple = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile,
                            "--log-level", "debug", APP],
                           env={"TEST_ENGINEIO_WITHOUT_GEVENT_WEBSOCKET": "1"}, start_timeout=30)
    started = (tls, plain, simple)
    try:
        with ThreadPoolExecutor() as pool:  # importing Flask-SocketIO takes seconds: in parallel
            list(pool.map(ServerProcess.start, started))
        yield {"https": tls, "http": plain, "https-simple": simple}
        for s in started:
            assert s.alive(), s.stderr_text()[-3000:]
            assert "Traceback" not in s.stderr_text(), s.stderr_text()[-3000:]
    finally:
        for s in started:
            s.close()


@pytest.mark.parametrize(("scheme", "transport"), [
    ("http", "polling"), ("https", "polling"), ("http", "websocket"), ("https", "websocket"),
    ("https-simple", "websocket")])
def test_socketio_emit_and_ack(servers, certs, scheme, transport, monkeypatch):
    server = servers[scheme]
    # Trust the test's certificate (requests lets these variables override a session's verify).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = requests.Session()
    session.verify = certs.certfile
    # websocket-client over TLS needs a context whose SSL calls do not overlap across the
    # client's threads (support/tls_client.py: without it a call is lost now and then)
    options = {"sslopt": {"context": serialized_context(certs.certfile)}} \
        if scheme.startswith("https") and transport == "websocket" else {}
    client = socketio.Client(http_session=session, reconnection=False,
                             websocket_extra_options=options)
    replies = []
    got_reply = threading.Event()

    @client.on("reply")
    def on_reply(data):
        replies.append(data)
        got_reply.set()

    client.connect(f"{scheme.split('-')[0]}://127.0.0.1:{server.port}", transports=[transport],
                   wait_timeout=10)
    try:
        assert client.transport() == transport
        for i in range(5):
            ack = client.call("echo", {"n": i, "text": "héllo"}, timeout=10)
            assert ack["echo"] == {"n": i, "text": "héllo"}
        client.emit("shout", "hello")
        assert got_reply.wait(10), "no reply event"
        assert replies[0]["upper"] == "HELLO"
        # The websocket transport really ran on a WebSocket (engine.io handlers see the
        # request that carried the message: the upgrade on websocket, a POST on polling).
        assert ack["websocket"] is (transport == "websocket")
        assert ack["protocol"] == "http/1.1"
        # which WebSocket implementation carried it: greenh2's wsgi.websocket (gevent-websocket
        # interface) or simple-websocket on environ['werkzeug.socket']
        assert ack["simple_websocket"] is (scheme == "https-simple")
    finally:
        client.disconnect()
    if scheme == "https-simple":
        # engine.io ends its simple-websocket handler by raising ConnectionError (werkzeug's
        # "already handled" signal): after the takeover that is the end, not an app error
        line = server.wait_for_stderr(r"app ended its WebSocket|error handling GET /socket.io/",
                                      timeout=10)
        assert "app ended its WebSocket with ConnectionError" in line, server.stderr_text()[-3000:]
