"""The WebSocket layer over an in-memory Pipe: handshake rules, the lazy handshake, messages,
the closing handshake, limits (1009, deflate bomb, control flood), and the takeover sink."""
import time

import gevent
import gevent.queue
import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameProtocol, ParseFailed

from greenh2.config import Config
from greenh2.websocket import GuardedPipe, PipeClosed, Refusal, WebSocketRequest, h1_offer, h2_offer
from greenh2.websocket.deflate import BoundedDeflate
from greenh2.websocket.handshake import Offer, as_upgrade_get, response_headers
from greenh2.websocket.socket import CONTROL_BURST, CONTROL_RATE
from greenh2.wsgi.environ import RequestHead

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


class MemoryPipe:
    transport = "http/1.1"

    def __init__(self):
        self.inbound = gevent.queue.Queue()
        self.sent = bytearray()
        self.accepted_with = None
        self.closed = False

    def accept(self, headers):
        self.accepted_with = headers

    def recv(self, timeout):
        try:
            return self.inbound.get(timeout=timeout)
        except gevent.queue.Empty:
            return None

    def send(self, data):
        if self.closed:
            raise PipeClosed("closed")
        self.sent += data

    def close(self):
        self.closed = True


class Peer:
    """The client side: a wsproto client fed with what the server sent."""

    def __init__(self, pipe, extensions=None):
        self.pipe, self.conn, self.seen = pipe, Connection(ConnectionType.CLIENT, extensions), 0

    def send(self, event):
        self.pipe.inbound.put(self.conn.send(event))

    def events(self):
        new = bytes(self.pipe.sent[self.seen:])
        self.seen = len(self.pipe.sent)
        self.conn.receive_data(new)
        return list(self.conn.events())


def head(**fields):
    headers = {"host": "x", "upgrade": "websocket", "connection": "Upgrade",
               "sec-websocket-key": KEY, "sec-websocket-version": "13"}
    headers.update(fields)
    return RequestHead("GET", "/chat?x=1", "HTTP/1.1", [(k, v) for k, v in headers.items() if v is not None])


def make(config=None, **offer_kw):
    pipe = MemoryPipe()
    offer = Offer("http/1.1", "/chat", key=KEY, **offer_kw)
    request = WebSocketRequest(offer, pipe, config or Config(ws_ping_interval=0, ws_handshake_timeout=0.2))
    return pipe, request, request.websocket


# --- handshake rules ---------------------------------------------------------------------------

def test_h1_offer_valid_and_accept_token():
    offer = h1_offer(head(origin="https://a.test", **{"sec-websocket-protocol": "a, b"}))
    assert isinstance(offer, Offer) and offer.subprotocols == ["a", "b"] and offer.origin == "https://a.test"
    headers, _ = response_headers(offer, "b", False, 1 << 20)
    # RFC 6455 §1.3's worked example
    assert ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in headers
    assert ("sec-websocket-protocol", "b") in headers


@pytest.mark.parametrize("fields,status", [
    ({"sec-websocket-version": "8"}, 426), ({"sec-websocket-key": "c2hvcnQ="}, 400),
    ({"sec-websocket-key": None}, 400), ({"connection": "keep-alive"}, 400)])
def test_h1_offer_refusals(fields, status):
    refusal = h1_offer(head(**fields))
    assert isinstance(refusal, Refusal) and refusal.status == status


def test_h2_offer_and_translation():
    h = RequestHead("CONNECT", "/chat", "HTTP/2.0", [("sec-websocket-version", "13")], "a", "https")
    assert isinstance(h2_offer(h, "websocket"), Offer)
    assert h2_offer(h, "other").status == 501
    as_upgrade_get(h)
    names = dict(h.headers)
    assert h.method == "GET" and names["upgrade"] == "websocket" and len(names["sec-websocket-key"]) == 24
    offer = h2_offer(h, "websocket")
    headers, _ = response_headers(offer, None, False, 1 << 20)
    assert headers == []  # RFC 8441 §5: no Sec-WebSocket-Accept, no Upgrade


def test_subprotocol_must_be_offered():
    with pytest.raises(ValueError):
        response_headers(Offer("h2", "/", subprotocols=["a"]), "b", False, 1 << 20)


def test_deflate_negotiation_declines_bad_offers():
    good = response_headers(Offer("h2", "/", extensions=["x-foo", "permessage-deflate; client_max_window_bits"]),
                            None, True, 1 << 20)
    assert good[0] == [("sec-websocket-extensions", "permessage-deflate; client_max_window_bits=15")]
    bad = response_headers(Offer("h2", "/", extensions=["permessage-deflate; server_max_window_bits=7"]),
                           None, True, 1 << 20)
    assert bad == ([], [])


# --- the WebSocket object ----------------------------------------------------------------------

def test_handshake_is_lazy():
    pipe, request, ws = make()
    assert pipe.accepted_with is None and not request.taken_over
    peer = Peer(pipe)
    peer.send(TextMessage(data="hi"))
    assert ws.receive() == "hi"
    assert pipe.accepted_with is not None and request.taken_over
    request.finish()


def test_messages_both_ways_and_fragments():
    pipe, request, ws = make()
    peer = Peer(pipe)
    peer.send(TextMessage(data="ab", message_finished=False))
    peer.send(TextMessage(data="cd"))
    peer.send(BytesMessage(data=b"\x00\x01"))
    assert ws.receive() == "abcd" and ws.receive() == b"\x00\x01"
    ws.send("text")
    ws.send(b"bin")
    ws.send("forced", binary=True)
    got = [(type(e).__name__, e.data) for e in peer.events()]
    assert got == [("TextMessage", "text"), ("BytesMessage", b"bin"), ("BytesMessage", b"forced")]
    request.finish()


def test_ping_is_answered_by_the_reader():
    pipe, request, ws = make()
    ws.accept()
    peer = Peer(pipe)
    peer.send(Ping(payload=b"x"))
    gevent.sleep(0.05)
    assert any(isinstance(e, Pong) and e.payload == b"x" for e in peer.events())
    request.finish()


def test_peer_close_ends_receive_and_is_echoed():
    pipe, request, ws = make()
    peer = Peer(pipe)
    peer.send(CloseConnection(code=4000, reason="bye"))
    assert ws.receive() is None and ws.closed and ws.close_code == 4000
    assert ws.receive() is None  # stays None, no exception
    events = peer.events()
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 4000
    assert pipe.closed
    request.finish()


def test_app_close_waits_for_reply_in_finish():
    pipe, request, ws = make()
    peer = Peer(pipe)
    ws.close(1001, "later")
    assert peer.events()[-1].code == 1001
    waiter = gevent.spawn(request.finish)
    gevent.sleep(0.05)
    assert not waiter.dead  # waiting for the peer's Close reply
    peer.send(CloseConnection(code=1001))
    waiter.join(2)
    assert waiter.dead and pipe.closed


def test_send_after_close_raises_oserror():
    pipe, request, ws = make()
    ws.close()
    with pytest.raises(OSError):
        ws.send("late")
    request.finish()


def test_oversized_message_fails_with_1009():
    pipe, request, ws = make(Config(ws_ping_interval=0, ws_handshake_timeout=0.2, ws_max_message_size=1000))
    peer = Peer(pipe)
    peer.send(BytesMessage(data=b"x" * 1001))
    pipe.inbound.put(b"")  # the peer goes away after its Close reply
    assert ws.receive() is None
    assert any(isinstance(e, CloseConnection) and e.code == 1009 for e in peer.events())
    request.finish()


def test_control_flood_fails_with_1008():
    t0 = time.monotonic()
    pipe, request, ws = make()
    proto = FrameProtocol(client=True, extensions=[])
    pipe.inbound.put(bytes(proto.ping(b"p")) * 500)
    pipe.inbound.put(b"")
    assert ws.receive() is None
    elapsed = time.monotonic() - t0
    events = Peer(pipe).events()
    assert any(isinstance(e, CloseConnection) and e.code == 1008 for e in events)
    # the bucket: CONTROL_BURST at once, then CONTROL_RATE per second of the time it took (a
    # loaded machine takes longer over the 500 pings, and the bucket refills meanwhile)
    allowed = CONTROL_BURST + 1 + CONTROL_RATE * elapsed
    assert sum(isinstance(e, Pong) for e in events) <= allowed < 200
    request.finish()


def test_deflate_cap_stops_inflating_early():
    ext = BoundedDeflate(max_size=1000)
    ext.accept("permessage-deflate")
    client = PerMessageDeflate()
    client.finalize("permessage-deflate")
    sender = FrameProtocol(client=True, extensions=[client])
    frame = bytes(sender.send_data(b"\0" * (50 << 20), fin=True))
    receiver = FrameProtocol(client=False, extensions=[ext])
    receiver.receive_bytes(frame)
    with pytest.raises(ParseFailed) as info:
        list(receiver.received_frames())
    assert info.value.code == CloseReason.MESSAGE_TOO_BIG
    assert ext.inflated <= 1001


def test_deflate_within_cap_roundtrips():
    pipe, request, ws = make(Config(ws_ping_interval=0, ws_handshake_timeout=0.2), extensions=["permessage-deflate"])
    ws.accept()
    assert ("sec-websocket-extensions", "permessage-deflate") in pipe.accepted_with
    client = PerMessageDeflate()
    client.finalize("permessage-deflate")
    peer = Peer(pipe, [client])
    peer.send(TextMessage(data="z" * 5000))
    assert ws.receive() == "z" * 5000
    request.finish()


def test_backpressure_bounds_the_queue():
    pipe, request, ws = make(Config(ws_ping_interval=0, ws_handshake_timeout=0.2, ws_max_message_size=1000))
    ws.accept()
    peer = Peer(pipe)
    for _ in range(200):
        peer.send(BytesMessage(data=b"y" * 100))
    gevent.sleep(0.1)
    assert len(ws._inbox) <= 64 and ws._inbox_bytes <= 1100
    assert pipe.inbound.qsize() > 0  # the reader stopped reading
    for _ in range(200):
        assert ws.receive() == b"y" * 100
    request.finish()


def test_going_away_closes_with_1001():
    pipe, request, ws = make()
    ws.accept()
    request.going_away()
    gevent.sleep(0.05)
    assert ws.closed and ws.receive() is None
    assert Peer(pipe).events()[-1].code == CloseReason.GOING_AWAY


# --- the sink and the guard ------------------------------------------------------------------------

class RecordingSink:
    def __init__(self):
        self.calls = []

    def informational(self, status, headers):
        self.calls.append("informational")

    def start(self, status, reason, headers, end):
        self.calls.append(("start", status))

    def write(self, data, end=False):
        self.calls.append(("write", data))

    def finish(self):
        self.calls.append("finish")

    def trailers(self, headers):
        self.calls.append("trailers")

    def abort(self):
        self.calls.append("abort")


def test_ordinary_response_passes_and_blocks_the_handshake():
    pipe, request, ws = make()
    inner = RecordingSink()
    sink = request.wrap_sink(inner)
    sink.start(404, "Not Found", [], False)
    sink.write(b"nope")
    assert inner.calls == [("start", 404), ("write", b"nope")] and sink.detached == 0
    with pytest.raises(OSError):
        ws.receive()
    assert pipe.accepted_with is None


def test_response_after_takeover_is_dropped():
    pipe, request, ws = make()
    inner = RecordingSink()
    sink = request.wrap_sink(inner)
    ws.accept()
    sink.start(200, "OK", [], False)
    sink.write(b"ignored")
    sink.finish()
    assert inner.calls == [] and sink.detached == 101
    request.finish()


def test_guarded_pipe_accepts_once():
    pipe = GuardedPipe(MemoryPipe())
    pipe.accept([])
    with pytest.raises(PipeClosed):
        pipe.accept([])


def test_idle_timeout_closes_with_1001():
    pipe, request, ws = make(Config(ws_ping_interval=0, ws_handshake_timeout=0.2, ws_idle_timeout=0.2))
    ws.accept()
    gevent.sleep(0.4)
    assert ws.closed
    assert Peer(pipe).events()[-1].code == CloseReason.GOING_AWAY
    request.finish()


def test_unanswered_ping_fails_with_1011():
    pipe, request, ws = make(Config(ws_ping_interval=0.1, ws_pong_timeout=0.1, ws_handshake_timeout=0.2))
    ws.accept()
    gevent.sleep(0.5)
    events = Peer(pipe).events()
    assert isinstance(events[0], Ping) and events[-1].code == CloseReason.INTERNAL_ERROR
    assert ws.receive() is None
    request.finish()
