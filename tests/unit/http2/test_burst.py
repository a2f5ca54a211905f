"""A burst of new requests in one read is opened a slice at a time (engine headers_per_receive,
inbound.FrameScanner headers_per_feed, starter.wait_room), and the decoder answers a repeated
field block that leaves the HPACK table alone from its cache."""
import gevent
import h2.events as ev
from h2.config import H2Configuration
from h2.connection import H2Connection
from hpack import Decoder, Encoder

from greenh2.config import Config
from greenh2.http2.engine import Engine
from greenh2.http2.rules import StrictDecoder
from greenh2.http2.starter import ROOM, Starter

REQ = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"example.com"),
       (b":path", b"/sse?count=3"), (b"user-agent", b"unit")]


def started(limit):
    engine = Engine(Config(), headers_per_receive=limit)
    engine.start()
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    client.receive_data(engine.take_output())
    engine.receive(client.data_to_send())
    client.receive_data(engine.take_output())
    return engine, client


def requests_in_slices(engine, data):
    """Stream ids opened per receive() while the backlog is worked through."""
    slices = []
    while data:
        events = engine.receive(data)
        slices.append([e.stream_id for e in events if isinstance(e, ev.RequestReceived)])
        assert sorted(engine.heads) == slices[-1]  # each slice's heads are built
        data = engine.take_backlog()
    return slices


def test_burst_of_requests_is_opened_in_slices_in_order():
    engine, client = started(limit=4)
    sids = []
    for _ in range(10):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, REQ, end_stream=True)
        sids.append(sid)
    client.ping(b"12345678")  # a frame after the burst still arrives, in the last slice
    slices = requests_in_slices(engine, client.data_to_send())
    assert slices == [sids[0:4], sids[4:8], sids[8:10]]
    assert engine.take_backlog() == b""


def test_slice_never_splits_a_field_block_or_a_data_frame():
    engine, client = started(limit=1)
    sid1 = client.get_next_available_stream_id()
    client.send_headers(sid1, REQ + [(b"x-big", b"v" * 40000)], end_stream=False)  # CONTINUATION
    client.send_data(sid1, b"body", end_stream=True)
    sid3 = client.get_next_available_stream_id()
    client.send_headers(sid3, REQ, end_stream=True)
    data, events = client.data_to_send(), []
    for cut in range(0, len(data), 7):  # drip-fed: the limit counts per receive()
        chunk = data[cut:cut + 7]
        while chunk:
            events += engine.receive(chunk)
            chunk = engine.take_backlog()
    assert [(type(e), e.stream_id) for e in events if isinstance(
        e, (ev.RequestReceived, ev.DataReceived, ev.StreamEnded))] == [
        (ev.RequestReceived, sid1), (ev.DataReceived, sid1), (ev.StreamEnded, sid1),
        (ev.RequestReceived, sid3), (ev.StreamEnded, sid3)]


def test_no_limit_opens_everything_at_once():
    engine, client = started(limit=0)
    for _ in range(40):
        client.send_headers(client.get_next_available_stream_id(), REQ, end_stream=True)
    assert [len(s) for s in requests_in_slices(engine, client.data_to_send())] == [40]


def test_readers_wait_for_room_while_the_starter_is_behind():
    s = Starter()
    started_, log = [], []

    class St:
        error, greenlet = None, None

    for i in range(ROOM + 40):
        s.add(St(), started_.append, lambda st: None, i)

    def reader():
        s.wait_room()
        log.append(len(s.pending))

    g = gevent.spawn(reader)
    g.join(5)
    assert g.dead and log and log[0] < ROOM  # went on only once the queue was below ROOM
    gevent.sleep(0.05)
    assert started_ == list(range(ROOM + 40))  # all started, in arrival order


def test_repeated_block_with_literal_without_indexing_is_cached():
    enc, dec, ref = Encoder(), StrictDecoder(), Decoder()  # ref: plain hpack, always decodes

    def both(block):
        want = ref.decode(block, raw=True)
        got = dec.decode(block, raw=True)
        assert got == want
        return got

    first = enc.encode(REQ[:3])  # indexed into the dynamic table: changes it, not cached
    both(first)
    assert not dec._cached
    path = [(b":path", b"/sse?count=3", True)]  # sensitive: never indexed, table unchanged
    block = enc.encode(REQ[:3] + path)
    got = both(block)
    assert dec._cached and dec.decode(block, raw=True) is got  # the cached list
    ref.decode(block, raw=True)
    both(enc.encode([(b":authority", b"other.example")]))  # adds to the table: cache emptied
    assert not dec._cached
    both(block)  # the same bytes now name other table entries: decoded again, not stale
