"""greenh2.websocket.compat.PipeSocket: simple-websocket's socket over a WebSocket Pipe.

The pipe here is an in-memory fake with the core's Pipe interface; the bytes on the app side
come from the real simple-websocket `Server` (and its wsproto), the client side is wsproto's
client, so the handshake translation is checked against what the libraries really write.
"""
import queue
import select
import threading
import time

import gevent
import gevent.queue
import pytest
import simple_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from greenh2.websocket.compat import ENVIRON_KEY, HandshakeError, PipeSocket, parse_response_head
from greenh2.websocket.pipe import PipeClosed


class FakePipe:
    def __init__(self, transport):
        self.transport = transport
        self.accepted = None
        self.sent = bytearray()
        self.incoming = queue.Queue()
        self.closed = False
        self.sent_event = threading.Event()

    def accept(self, headers):
        assert self.accepted is None, "accept() twice"
        self.accepted = headers

    def recv(self, timeout):
        return self.incoming.get(timeout=5)

    def send(self, data):
        assert self.accepted is not None, "frames before the handshake response"
        self.sent += data
        self.sent_event.set()

    def close(self):
        self.closed = True


def _handshake_bytes(extensions=()):
    """What simple-websocket writes: wsproto's server answer to a client's request."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="localhost", target="/",
                                            extensions=list(extensions))))
    next(server.events())
    return server.send(AcceptConnection(extensions=[PerMessageDeflate()] if extensions else []))


def test_parse_response_head():
    status, headers = parse_response_head(b"HTTP/1.1 101 \r\nUpgrade: WebSocket\r\nX-A:  b ")
    assert status == 101 and headers == [("upgrade", "WebSocket"), ("x-a", "b")]
    with pytest.raises(HandshakeError):
        parse_response_head(b"SSH-2.0 hello")
    with pytest.raises(HandshakeError):
        parse_response_head(b"HTTP/1.1 101 \r\nno colon here")


@pytest.mark.parametrize("transport", ["h2", "http/1.1"])
def test_101_head_becomes_accept_and_the_rest_frames(transport):
    pipe = FakePipe(transport)
    sock = PipeSocket(pipe)
    head = _handshake_bytes(extensions=[PerMessageDeflate()])
    frame = Connection(ConnectionType.SERVER).send(TextMessage(data="hi"))
    assert sock.send(head + frame) == len(head) + len(frame)
    names = [n for n, _ in pipe.accepted]
    h1 = transport == "http/1.1"  # RFC 8441 §5: none of these three on HTTP/2
    assert ("upgrade" in names) == h1 and ("connection" in names) == h1
    assert ("sec-websocket-accept" in names) == h1
    assert any(n == "sec-websocket-extensions" and v.startswith("permessage-deflate")
               for n, v in pipe.accepted)
    assert bytes(pipe.sent) == frame
    sock.sendall(frame)
    assert bytes(pipe.sent) == frame * 2


def test_head_split_across_writes():
    pipe = FakePipe("h2")
    sock = PipeSocket(pipe)
    head = _handshake_bytes()
    for i in range(len(head)):
        sock.send(head[i:i + 1])
    assert pipe.accepted is not None and not pipe.sent


def test_refusing_status_is_an_error_and_nothing_is_accepted():
    pipe = FakePipe("h2")
    with pytest.raises(HandshakeError) as info:
        PipeSocket(pipe).send(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
    assert isinstance(info.value, OSError)  # simple-websocket stops on OSError
    assert pipe.accepted is None


def test_recv_honours_size_waits_through_timeouts_and_reports_eof():
    pipe = FakePipe("h2")
    sock = PipeSocket(pipe)
    for item in (None, b"abcdef", b""):
        pipe.incoming.put(item)
    assert sock.recv(4) == b"abcd"
    assert sock.recv(4) == b"ef"
    assert sock.recv(4) == b""


def test_close_ends_the_pipe():
    sock = PipeSocket(FakePipe("h2"))
    sock.close()
    assert sock.pipe.closed and sock.closed.is_set()
    assert issubclass(HandshakeError, PipeClosed)


def test_simple_websocket_server_runs_unchanged_over_the_pipe():
    """The real simple_websocket.Server, driven by a wsproto client through a fake h2 pipe."""
    pipe = FakePipe("h2")
    env = {"HTTP_HOST": "localhost", "HTTP_UPGRADE": "websocket",
           "HTTP_CONNECTION": "Upgrade", "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
           "HTTP_SEC_WEBSOCKET_VERSION": "13", "REQUEST_METHOD": "GET",
           ENVIRON_KEY: PipeSocket(pipe)}
    assert ENVIRON_KEY == "werkzeug.socket"  # the key simple-websocket reads first
    ws = simple_websocket.Server(env)
    assert ws.mode == "werkzeug" and pipe.accepted is not None
    assert dict(pipe.accepted).get(":status") is None  # status is the pipe's business
    client = Connection(ConnectionType.CLIENT)
    pipe.incoming.put(client.send(TextMessage(data="hello over h2")))
    assert ws.receive(timeout=5) == "hello over h2"
    pipe.sent.clear()
    pipe.sent_event.clear()
    ws.send("back")
    assert pipe.sent_event.wait(5)
    client.receive_data(bytes(pipe.sent))
    assert [e.data for e in client.events() if isinstance(e, TextMessage)] == ["back"]
    ws.close()
    pipe.incoming.put(client.send(CloseConnection(code=1000)))
    pipe.incoming.put(b"")
    ws.thread.join(5)
    assert not ws.thread.is_alive() and pipe.closed


def test_going_away_sends_1001_between_frames_and_then_nothing():
    pipe = FakePipe("h2")
    sock = PipeSocket(pipe)
    sock.send(_handshake_bytes())
    sock.going_away()
    gevent.sleep(0.01)  # it is sent from its own greenlet: the caller never blocks
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(bytes(pipe.sent))
    [close] = list(client.events())
    assert isinstance(close, CloseConnection) and close.code == 1001
    before = len(pipe.sent)
    sock.send(Connection(ConnectionType.SERVER).send(TextMessage(data="late")))
    assert len(pipe.sent) == before  # RFC 6455 §5.5.1: nothing after our Close


def test_going_away_before_the_handshake_sends_nothing():
    pipe = FakePipe("h2")
    PipeSocket(pipe).going_away()
    gevent.sleep(0.01)
    assert pipe.accepted is None and not pipe.sent


class GreenFakePipe(FakePipe):
    """recv() waits cooperatively (the pump is a greenlet; nothing is monkey-patched here)."""

    def __init__(self, transport):
        super().__init__(transport)
        self.incoming = gevent.queue.Queue()


def test_fileno_polls_readable_only_while_bytes_wait():
    pipe = GreenFakePipe("h2")
    sock = PipeSocket(pipe)
    sock.send(_handshake_bytes())
    fd = sock.fileno()
    gevent.sleep(0.01)
    assert not select.select([fd], [], [], 0)[0]
    pipe.incoming.put(b"abc")
    deadline = time.monotonic() + 5
    while not select.select([fd], [], [], 0)[0] and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert sock.recv(2) == b"ab"
    assert select.select([fd], [], [], 0)[0]  # one byte still waits
    assert sock.recv(10) == b"c"
    assert not select.select([fd], [], [], 0)[0]
    sock.close()


def test_closing_wakes_a_reader_waiting_on_the_doorbell():
    pipe = GreenFakePipe("h2")
    sock = PipeSocket(pipe)
    sock.send(_handshake_bytes())
    sock.fileno()
    reader = gevent.spawn(sock.recv, 10)
    gevent.sleep(0.01)
    sock.close()  # e.g. finish() gave up waiting for simple-websocket's thread
    assert reader.get(timeout=2) == b""
