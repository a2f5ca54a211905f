"""A shed connection ends at once: `abort()` sends the FIN itself, before the new connection it
made room for is served, not on the shed greenlet's next turn (worker_connections counts
connections, and under load that turn can come many milliseconds later)."""
import socket

import psutil
import pytest
from gevent import socket as gsocket

from greenh2.config import Config
from greenh2.server.tls import PlainTransport, TLSTransport, make_context


def _pair() -> tuple[socket.socket, socket.socket]:
    listener = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname(), timeout=2)
    server, _ = listener.accept()
    listener.close()
    return server, client


def _state(sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    peer = sock.getpeername()[1]
    for c in psutil.Process().net_connections(kind="tcp"):
        if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == peer:
            return c.status
    return "gone"


@pytest.mark.parametrize("kind", ["plain", "tls"])
def test_abort_ends_the_tcp_connection_before_returning(kind, certs):
    server, client = _pair()
    try:
        if kind == "tls":
            ctx = make_context(Config(certfile=certs.certfile, keyfile=certs.keyfile),
                               certs.certfile, certs.keyfile)
            transport = TLSTransport(server, ctx)
        else:
            transport = PlainTransport(server)
        assert _state(server) == psutil.CONN_ESTABLISHED
        transport.abort()
        # no gevent turn has run: the FIN is already on its way, the fd still open
        assert _state(server) != psutil.CONN_ESTABLISHED
        assert client.recv(1) == b""
        with pytest.raises(ConnectionAbortedError):
            transport.recv(1)
        transport.abort()  # twice is harmless
    finally:
        server.close()
        client.close()
