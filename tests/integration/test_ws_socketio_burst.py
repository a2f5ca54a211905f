"""A burst of socket.io clients over wss:// and ws:// (issue 16, part 3): 10 waves of 40
python-socketio clients (websocket transport, websocket-client underneath), each connecting,
making one `call("echo")` and disconnecting; every call must be answered, over TLS as over
cleartext. The clients use `support.tls_client.serialized_context`: the python-socketio client
runs OpenSSL calls on one SSL object from several threads at once (see that module), which loses
calls against any server; the burst is about what greenh2 does, so the client must be sound.
"""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import socketio
from support.server import ServerProcess
from support.tls_client import serialized_context

APP = "socketio_app:app"
WAVES, CLIENTS = 10, 40


@pytest.fixture(scope="module")
def servers(certs):
    tls = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile, APP],
                        start_timeout=30)
    plain = ServerProcess([APP], start_timeout=30)
    started = (tls, plain)
    try:
        with ThreadPoolExecutor() as pool:
            list(pool.map(ServerProcess.start, started))
        yield {"https": tls, "http": plain}
        for s in started:
            assert s.alive(), s.stderr_text()[-3000:]
            assert "Traceback" not in s.stderr_text(), s.stderr_text()[-3000:]
    finally:
        for s in started:
            s.close()


def _one(url, options, n):
    client = socketio.Client(reconnection=False, websocket_extra_options=options)
    try:
        client.connect(url, transports=["websocket"], wait_timeout=10)
        ack = client.call("echo", {"n": n}, timeout=10)
        return "ok" if ack["echo"] == {"n": n} and ack["websocket"] else f"bad ack {ack!r}"
    except Exception as exc:  # reported with the others below
        return f"client {n}: {exc!r}"
    finally:
        client.disconnect()


@pytest.mark.timeout(100)
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_socketio_burst_loses_nothing(servers, certs, scheme):
    url = f"{scheme}://127.0.0.1:{servers[scheme].port}"
    options = {"sslopt": {"context": serialized_context(certs.certfile)}} if scheme == "https" else {}
    failures = []
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for wave in range(WAVES):
            numbers = range(wave * CLIENTS, (wave + 1) * CLIENTS)
            results = pool.map(_one, [url] * CLIENTS, [options] * CLIENTS, numbers)
            failures += [r for r in results if r != "ok"]
    elapsed = time.monotonic() - started
    print(f"{scheme}: {WAVES * CLIENTS - len(failures)}/{WAVES * CLIENTS} answered in {elapsed:.1f} s")
    assert not failures, failures[:5]
