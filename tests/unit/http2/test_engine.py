"""greenh2.http2.engine.Engine, driven with real frames and no I/O.

A client-side `h2.H2Connection` produces the bytes the server receives and decodes what the
server sends; `hyperframe` builds frames h2's client would refuse to send (floods, a client
GOAWAY that must leave the client able to read responses) and parses raw server output.
Time is a fake clock, so flood limits are tested deterministically.
"""
import base64

import h2.events as ev
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.settings import SettingCodes, Settings
from h2.stream import StreamState
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from greenh2.config import Config
from greenh2.http2.engine import ConnectionEnd, Engine, PeerGoaway
from greenh2.http2.inbound import PREFACE

REQ = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.com"),
       (b":path", b"/hello?x=1"), (b"user-agent", b"unit")]
POST = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"example.com"),
        (b":path", b"/upload"), (b"content-type", b"text/plain")]
RESP = [(b":status", b"200"), (b"content-type", b"text/plain")]


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def parse_frames(data):
    """Split raw HTTP/2 bytes (no preface) into hyperframe frames; fails on a partial frame."""
    frames, pos, view = [], 0, memoryview(data)
    while pos < len(data):
        assert len(data) - pos >= 9, "partial frame header in output"
        frame, length = Frame.parse_frame_header(view[pos:pos + 9])
        assert len(data) - pos - 9 >= length, "partial frame payload in output"
        frame.parse_body(view[pos + 9:pos + 9 + length])
        frames.append(frame)
        pos += 9 + length
    return frames


def goaways(data):
    return [f for f in parse_frames(data) if isinstance(f, GoAwayFrame)]


def make_client(local=None):
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    if local:
        client.local_settings = Settings(client=True, initial_values=local)
    return client


def connect(config=None, clock=None, client_settings=None):
    """A started Engine and a client that has completed the preface exchange both ways."""
    engine = Engine(config or Config(), clock or FakeClock())
    engine.start()
    client = make_client(client_settings)
    client.initiate_connection()
    client.receive_data(engine.take_output())
    events = engine.receive(client.data_to_send())
    assert [type(e) for e in events if not isinstance(e, ev.RemoteSettingsChanged)] in \
        ([], [ev.SettingsAcknowledged])
    client.receive_data(engine.take_output())  # our SETTINGS ACK for the client's SETTINGS
    return engine, client


def exchange(engine, client):
    """Client -> server, then server -> client; returns (server events, client events)."""
    server_events = engine.receive(client.data_to_send())
    client_events = client.receive_data(engine.take_output())
    return server_events, client_events


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def open_stream(engine, client, headers=REQ, end_stream=True):
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, headers, end_stream=end_stream)
    events = engine.receive(client.data_to_send())
    assert [e.stream_id for e in of(events, ev.RequestReceived)] == [sid]
    return sid


# --- start: SETTINGS and the connection window ---------------------------------------------------

CUSTOM = dict(max_concurrent_streams=7, initial_window_size=100_000, max_frame_size=32_768,
              max_header_list_size=20_000, connection_window_size=1 << 20)


def test_first_settings_frame_carries_config():
    engine = Engine(Config(**CUSTOM), FakeClock())
    engine.start()
    first = engine.take_output()
    frames = parse_frames(first)
    assert isinstance(frames[0], SettingsFrame) and "ACK" not in frames[0].flags
    assert frames[0].settings[SettingCodes.MAX_CONCURRENT_STREAMS] == 7
    assert frames[0].settings[SettingCodes.INITIAL_WINDOW_SIZE] == 100_000
    assert frames[0].settings[SettingCodes.MAX_FRAME_SIZE] == 32_768
    assert frames[0].settings[SettingCodes.MAX_HEADER_LIST_SIZE] == 20_000
    assert not any(isinstance(f, SettingsFrame) for f in frames[1:])

    client = make_client()
    client.initiate_connection()
    client.receive_data(first)  # only the server's first output
    remote = client.remote_settings
    assert remote.max_concurrent_streams == 7
    assert remote.initial_window_size == 100_000
    assert remote.max_frame_size == 32_768
    assert remote.max_header_list_size == 20_000


def test_no_later_settings_frame_changes_values():
    engine = Engine(Config(**CUSTOM), FakeClock())
    engine.start()
    client = make_client()
    client.initiate_connection()
    client.receive_data(engine.take_output())
    before = dict(client.remote_settings.items())
    # A whole request/response later, the server has sent nothing but SETTINGS ACKs.
    engine.receive(client.data_to_send())
    sid = open_stream(engine, client)
    engine.send_headers(sid, RESP)
    engine.send_data(sid, b"ok", end_stream=True)
    engine.ping()
    later = engine.take_output()
    for frame in parse_frames(later):
        if isinstance(frame, SettingsFrame):
            assert "ACK" in frame.flags and not frame.settings
    events = client.receive_data(later)
    assert not of(events, ev.RemoteSettingsChanged)
    assert dict(client.remote_settings.items()) == before


def test_connection_window_raised_to_config():
    engine = Engine(Config(connection_window_size=5_000_000), FakeClock())
    engine.start()
    frames = parse_frames(engine.take_output())
    updates = [f for f in frames if isinstance(f, WindowUpdateFrame)]
    assert [(f.stream_id, f.window_increment) for f in updates] == [(0, 5_000_000 - 65535)]
    assert isinstance(frames[0], SettingsFrame)  # SETTINGS first (RFC 9113 §3.4)



def test_client_sees_connection_window_from_first_output():
    engine = Engine(Config(connection_window_size=5_000_000), FakeClock())
    engine.start()
    client = make_client()
    client.initiate_connection()
    client.receive_data(engine.take_output())
    assert client.outbound_flow_control_window == 5_000_000


def test_minimum_connection_window_sends_no_window_update():
    engine = Engine(Config(connection_window_size=65535), FakeClock())
    engine.start()
    assert not any(isinstance(f, WindowUpdateFrame) for f in parse_frames(engine.take_output()))


# --- receiving ------------------------------------------------------------------------------------

def test_request_drip_fed_one_byte_at_a_time():
    engine = Engine(Config(), FakeClock())
    engine.start()
    client = make_client()
    client.initiate_connection()
    client.send_headers(1, POST + [(b"x-long", b"v" * 300)])
    for part in (b"hello ", b"", b"wonderful ", b"world"):
        client.send_data(1, part)
    client.end_stream(1)
    wire = client.data_to_send()

    events = []
    for i in range(len(wire)):
        events.extend(engine.receive(wire[i:i + 1]))
    requests = of(events, ev.RequestReceived)
    assert len(requests) == 1
    assert requests[0].stream_id == 1
    assert requests[0].headers == POST + [(b"x-long", b"v" * 300)]
    data = of(events, ev.DataReceived)
    assert b"".join(e.data for e in data) == b"hello wonderful world"
    assert [e.stream_id for e in data] == [1] * len(data)
    order = [type(e) for e in events if isinstance(e, (ev.RequestReceived, ev.DataReceived,
                                                       ev.StreamEnded))]
    assert order[0] is ev.RequestReceived and order[-1] is ev.StreamEnded
    assert order.count(ev.StreamEnded) == 1


def test_request_in_one_piece_and_in_random_pieces_give_the_same_events():
    import random
    client = make_client()
    client.initiate_connection()
    for sid in (1, 3, 5):
        client.send_headers(sid, POST)
        client.send_data(sid, bytes([sid]) * 1000, end_stream=True)
    wire = client.data_to_send()

    def run(chunks):
        engine = Engine(Config(), FakeClock())
        engine.start()
        out = []
        for chunk in chunks:
            out.extend(engine.receive(chunk))
        return [(type(e).__name__, getattr(e, "stream_id", None), getattr(e, "data", None))
                for e in out if isinstance(e, (ev.RequestReceived, ev.StreamEnded))] + \
            [("body", sid, b"".join(e.data for e in out
                                    if isinstance(e, ev.DataReceived) and e.stream_id == sid))
             for sid in (1, 3, 5)]

    whole = run([wire])
    rng = random.Random(1234)
    for _ in range(20):
        chunks, pos = [], 0
        while pos < len(wire):
            n = rng.randint(1, 40)
            chunks.append(wire[pos:pos + n])
            pos += n
        assert run(chunks) == whole


# --- sending --------------------------------------------------------------------------------------

def test_send_data_respects_stream_window():
    engine, client = connect(client_settings={SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    sid = open_stream(engine, client)
    engine.send_headers(sid, RESP)
    body = bytes(range(256)) * 20  # 5120 bytes
    assert engine.send_window(sid) == 1000
    sent = engine.send_data(sid, body, end_stream=True)
    assert sent == 1000
    frames = [f for f in parse_frames(engine.take_output()) if isinstance(f, DataFrame)]
    assert [len(f.data) for f in frames] == [1000]
    assert "END_STREAM" not in frames[0].flags
    assert engine.send_data(sid, body[sent:], end_stream=True) == 0  # window exhausted
    assert engine.take_output() == b""

    client.increment_flow_control_window(10_000, stream_id=sid)
    events = engine.receive(client.data_to_send())
    assert any(engine.is_flow_event(e) for e in events)
    assert engine.send_data(sid, body[sent:], end_stream=True) == len(body) - sent
    out = engine.take_output()
    frames = [f for f in parse_frames(out) if isinstance(f, DataFrame)]
    assert "END_STREAM" in frames[-1].flags
    assert all("END_STREAM" not in f.flags for f in frames[:-1])


def test_send_data_splits_at_peer_max_frame_size_and_ends_only_with_last_byte():
    engine, client = connect(client_settings={SettingCodes.INITIAL_WINDOW_SIZE: 40_000})
    sid = open_stream(engine, client)
    engine.send_headers(sid, RESP)
    body = bytes(i % 251 for i in range(50_000))
    first = engine.send_data(sid, body, end_stream=True)
    assert first == 40_000
    out1 = engine.take_output()
    frames = [f for f in parse_frames(out1) if isinstance(f, DataFrame)]
    assert [len(f.data) for f in frames] == [16384, 16384, 40_000 - 2 * 16384]
    assert not any("END_STREAM" in f.flags for f in frames)

    received = bytearray()
    for e in client.receive_data(out1):
        if isinstance(e, ev.DataReceived):
            received += e.data
            client.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
    client.increment_flow_control_window(20_000, stream_id=sid)
    engine.receive(client.data_to_send())
    rest = engine.send_data(sid, memoryview(body)[first:], end_stream=True)
    assert rest == 10_000
    out2 = engine.take_output()
    frames = [f for f in parse_frames(out2) if isinstance(f, DataFrame)]
    assert [len(f.data) for f in frames] == [10_000] and "END_STREAM" in frames[0].flags
    events = client.receive_data(out2)
    received += b"".join(e.data for e in of(events, ev.DataReceived))
    assert bytes(received) == body
    assert [e.stream_id for e in of(events, ev.StreamEnded)] == [sid]


def test_send_data_limited_by_connection_window():
    engine, client = connect()
    sids = [open_stream(engine, client) for _ in range(2)]
    for sid in sids:
        engine.send_headers(sid, RESP)
    assert engine.send_data(sids[0], b"a" * 60_000) == 60_000
    assert engine.send_data(sids[1], b"b" * 60_000) == 65535 - 60_000
    assert engine.send_window(sids[1]) == 0


def test_send_data_empty_with_end_stream_ends_the_stream():
    engine, client = connect()
    sid = open_stream(engine, client)
    engine.send_headers(sid, RESP)
    assert engine.send_data(sid, b"", end_stream=True) == 0
    out = engine.take_output()
    frames = [f for f in parse_frames(out) if isinstance(f, DataFrame)]
    assert len(frames) == 1 and "END_STREAM" in frames[0].flags and frames[0].data == b""
    assert of(client.receive_data(out), ev.StreamEnded)


def test_acknowledge_produces_window_updates():
    cfg = Config(initial_window_size=16384, connection_window_size=65535)
    engine, client = connect(cfg)
    sids = []
    for _ in range(2):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, POST)
        client.send_data(sid, b"x" * 16384)  # fills the stream window; stream stays open
        sids.append(sid)
    events = engine.receive(client.data_to_send())
    assert sum(len(e.data) for e in of(events, ev.DataReceived)) == 2 * 16384
    engine.take_output()
    assert client.local_flow_control_window(sids[0]) == 0

    for sid in sids:
        engine.acknowledge(sid, 16384)
    updates = [f for f in parse_frames(engine.take_output()) if isinstance(f, WindowUpdateFrame)]
    stream_updates = {f.stream_id: f.window_increment for f in updates if f.stream_id}
    assert stream_updates == {sids[0]: 16384, sids[1]: 16384}
    assert sum(f.window_increment for f in updates if f.stream_id == 0) == 2 * 16384

    engine.acknowledge(sids[0], 0)  # zero is a no-op
    assert engine.take_output() == b""


def test_acknowledge_reopens_client_windows():
    cfg = Config(initial_window_size=16384, connection_window_size=65535)
    engine, client = connect(cfg)
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, POST)
    client.send_data(sid, b"x" * 16384)
    engine.receive(client.data_to_send())
    engine.acknowledge(sid, 16384)
    client.receive_data(engine.take_output())
    assert client.local_flow_control_window(sid) == 16384


# --- limits on input ------------------------------------------------------------------------------

def test_oversized_frame_header_fails_before_payload():
    engine, client = connect()
    header = (16 * 1024 * 1024 - 1).to_bytes(3, "big") + bytes([0, 0]) + (1).to_bytes(4, "big")
    for i in range(8):
        assert engine.receive(header[i:i + 1]) == []
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(header[8:9])  # the 9th header byte; no payload has arrived
    assert info.value.code == ErrorCodes.FRAME_SIZE_ERROR
    out = engine.take_output()
    assert [f.error_code for f in goaways(out)] == [ErrorCodes.FRAME_SIZE_ERROR]
    terminated = of(client.receive_data(out), ev.ConnectionTerminated)
    assert terminated and terminated[0].error_code == ErrorCodes.FRAME_SIZE_ERROR
    assert engine.closed
    assert engine.receive(b"\x00" * 100) == []  # a closed engine ignores more input


def test_frame_of_exactly_max_frame_size_is_accepted():
    engine, client = connect(Config(max_frame_size=16384))
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, POST)
    client.send_data(sid, b"y" * 16384, end_stream=True)
    events = engine.receive(client.data_to_send())
    assert sum(len(e.data) for e in of(events, ev.DataReceived)) == 16384


def test_larger_configured_max_frame_size_allows_larger_frames():
    engine, client = connect(Config(max_frame_size=65536))
    assert client.max_outbound_frame_size == 65536
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, POST)
    client.send_data(sid, b"z" * 60_000, end_stream=True)
    data = client.data_to_send()
    assert any(len(f.data) == 60_000 for f in parse_frames(data) if isinstance(f, DataFrame))
    events = engine.receive(data)
    assert sum(len(e.data) for e in of(events, ev.DataReceived)) == 60_000


# --- GOAWAY from the client -----------------------------------------------------------------------

def test_graceful_client_goaway_still_allows_responses():
    engine, client = connect()
    sid = open_stream(engine, client)
    goaway = GoAwayFrame(0, last_stream_id=0, error_code=0).serialize()
    events = engine.receive(goaway)
    peer = of(events, PeerGoaway)
    assert len(peer) == 1 and peer[0].error_code == 0 and peer[0].last_stream_id == 0
    assert engine.peer_goaway is peer[0]
    assert not engine.closed

    engine.send_headers(sid, RESP)
    assert engine.send_data(sid, b"still answered", end_stream=True) == len(b"still answered")
    out = engine.take_output()
    assert not goaways(out)
    events = client.receive_data(out)
    assert [e.stream_id for e in of(events, ev.ResponseReceived)] == [sid]
    assert b"".join(e.data for e in of(events, ev.DataReceived)) == b"still answered"
    assert [e.stream_id for e in of(events, ev.StreamEnded)] == [sid]


def test_goaway_in_same_read_as_request():
    engine, client = connect()
    client.send_headers(1, REQ, end_stream=True)
    wire = client.data_to_send() + GoAwayFrame(0, last_stream_id=0, error_code=0).serialize()
    events = engine.receive(wire)
    assert [type(e) for e in events if isinstance(e, (ev.RequestReceived, PeerGoaway))] == \
        [ev.RequestReceived, PeerGoaway]
    engine.send_headers(1, RESP, end_stream=True)
    assert of(client.receive_data(engine.take_output()), ev.StreamEnded)


def test_goaway_drip_fed_is_reported_once_and_not_seen_by_h2():
    engine, client = connect()
    client.send_headers(1, REQ, end_stream=True)
    wire = client.data_to_send() + GoAwayFrame(0, last_stream_id=1, error_code=0,
                                               additional_data=b"shutting down").serialize()
    wire += PingFrame(0, opaque_data=b"after-ga").serialize()
    events = []
    for i in range(len(wire)):
        events.extend(engine.receive(wire[i:i + 1]))
    kinds = [type(e) for e in events if isinstance(e, (ev.RequestReceived, PeerGoaway,
                                                       ev.PingReceived, ev.ConnectionTerminated))]
    assert kinds == [ev.RequestReceived, PeerGoaway, ev.PingReceived]
    assert engine.peer_goaway.last_stream_id == 1
    engine.send_headers(1, RESP, end_stream=True)
    assert of(client.receive_data(engine.take_output()), ev.StreamEnded)


def test_client_goaway_with_error_code_is_reported():
    engine, client = connect()
    open_stream(engine, client)
    frame = GoAwayFrame(0, last_stream_id=0, error_code=ErrorCodes.ENHANCE_YOUR_CALM,
                        additional_data=b"calm down").serialize()
    events = engine.receive(frame)
    peer = of(events, PeerGoaway)
    assert len(peer) == 1
    assert peer[0].error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert engine.peer_goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM


def test_client_goaway_last_stream_id_masks_reserved_bit():
    engine, client = connect()
    payload = (0x80000000 | 5).to_bytes(4, "big") + (2).to_bytes(4, "big")
    raw = len(payload).to_bytes(3, "big") + bytes([7, 0]) + bytes(4) + payload
    peer = of(engine.receive(raw), PeerGoaway)[0]
    assert (peer.last_stream_id, peer.error_code) == (5, 2)


# --- the connection preface -----------------------------------------------------------------------

BAD_PREFACES = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SettingsFrame(0).serialize(),
    b"X" * 24,
]


@pytest.mark.parametrize("garbage", BAD_PREFACES)
def test_invalid_preface_is_a_protocol_error(garbage):
    engine = Engine(Config(), FakeClock())
    engine.start()
    engine.take_output()
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(garbage)
    # RFC 9113 §3.4: an invalid preface is a connection error of type PROTOCOL_ERROR.
    assert info.value.code == ErrorCodes.PROTOCOL_ERROR
    assert engine.closed


@pytest.mark.parametrize("garbage", BAD_PREFACES)
def test_invalid_preface_queues_a_goaway(garbage):
    engine = Engine(Config(), FakeClock())
    engine.start()
    engine.take_output()
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(garbage)
    assert [f.error_code for f in goaways(engine.take_output())] == [info.value.code]


def test_valid_preface_alone_produces_no_events():
    engine = Engine(Config(), FakeClock())
    engine.start()
    engine.take_output()
    assert engine.receive(PREFACE) == []
    assert engine.take_output() == b""


# --- h2c upgrade ----------------------------------------------------------------------------------

def test_h2c_upgrade_start_leaves_stream_1_half_closed_remote():
    client = make_client({SettingCodes.INITIAL_WINDOW_SIZE: 1234})
    settings_b64 = client.initiate_upgrade_connection()
    assert base64.urlsafe_b64decode(settings_b64)  # what an HTTP2-Settings header carries
    engine = Engine(Config(), FakeClock())
    engine.start(settings_b64, upgraded=True)
    assert engine.conn.streams[1].state_machine.state == StreamState.HALF_CLOSED_REMOTE
    assert engine.conn.remote_settings.initial_window_size == 1234  # HTTP2-Settings applied

    out = engine.take_output()
    frames = parse_frames(out)
    assert isinstance(frames[0], SettingsFrame) and "ACK" not in frames[0].flags
    client.receive_data(out)
    events = engine.receive(client.data_to_send())  # client preface + SETTINGS
    assert not of(events, ev.RequestReceived)  # the request came over HTTP/1.1

    engine.send_headers(1, RESP)
    assert engine.send_data(1, b"upgraded!", end_stream=True) == 9
    events = client.receive_data(engine.take_output())
    assert [e.stream_id for e in of(events, ev.ResponseReceived)] == [1]
    assert b"".join(e.data for e in of(events, ev.DataReceived)) == b"upgraded!"
    assert [e.stream_id for e in of(events, ev.StreamEnded)] == [1]
    # The next client stream is 3.
    sid = open_stream(engine, client)
    assert sid == 3


# --- flood limits (fake clock) --------------------------------------------------------------------

def _flood_ends_connection(engine, client, wire):
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(wire)
    assert info.value.code == ErrorCodes.ENHANCE_YOUR_CALM
    out = engine.take_output()
    assert [f.error_code for f in goaways(out)] == [ErrorCodes.ENHANCE_YOUR_CALM]
    assert engine.closed
    assert engine.failure is not None and engine.failure.code == ErrorCodes.ENHANCE_YOUR_CALM
    terminated = of(client.receive_data(out), ev.ConnectionTerminated)
    assert terminated[0].error_code == ErrorCodes.ENHANCE_YOUR_CALM


def test_ping_flood_ends_connection():
    engine, client = connect()
    wire = b"".join(PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize() for i in range(1000))
    _flood_ends_connection(engine, client, wire)


def test_ping_burst_boundary_and_refill():
    clock = FakeClock()
    engine, client = connect(clock=clock)
    ping = PingFrame(0, opaque_data=b"12345678").serialize()
    events = engine.receive(ping * 100)  # the burst allowance
    assert len(of(events, ev.PingReceived)) == 100
    engine.take_output()
    clock.advance(1.0)  # refills 10
    assert len(of(engine.receive(ping * 10), ev.PingReceived)) == 10
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(ping)
    assert info.value.code == ErrorCodes.ENHANCE_YOUR_CALM


def test_pings_at_a_low_rate_are_answered():
    clock = FakeClock()
    engine, client = connect(clock=clock)
    acks = 0
    for i in range(400):  # 5 per second, far below the refill rate, for 80 s
        clock.advance(0.2)
        events = engine.receive(PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize())
        assert len(of(events, ev.PingReceived)) == 1
        frames = parse_frames(engine.take_output())
        acks += sum(1 for f in frames if isinstance(f, PingFrame) and "ACK" in f.flags)
    assert acks == 400
    assert not engine.closed


def test_settings_flood_ends_connection():
    engine, client = connect()
    wire = SettingsFrame(0, settings={SettingCodes.INITIAL_WINDOW_SIZE: 65535}).serialize() * 1000
    _flood_ends_connection(engine, client, wire)


def test_settings_at_a_low_rate_are_acknowledged():
    clock = FakeClock()
    engine, client = connect(clock=clock)
    frame = SettingsFrame(0, settings={SettingCodes.INITIAL_WINDOW_SIZE: 65535}).serialize()
    for _ in range(300):
        clock.advance(0.25)
        engine.receive(frame)
        frames = parse_frames(engine.take_output())
        assert [("ACK" in f.flags) for f in frames if isinstance(f, SettingsFrame)] == [True]
    assert not engine.closed


def _rapid_reset_wire(client, count):
    for _ in range(count):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, REQ)
        client.reset_stream(sid, ErrorCodes.CANCEL)
    return client.data_to_send()


def test_rapid_reset_flood_ends_connection():
    engine, client = connect()
    wire = _rapid_reset_wire(client, 1100)
    _flood_ends_connection(engine, client, wire)


def test_resets_at_a_low_rate_are_fine():
    clock = FakeClock()
    engine, client = connect(clock=clock)
    for _ in range(1300):  # 25 resets per second is below the 33/s refill
        clock.advance(0.04)
        events = engine.receive(_rapid_reset_wire(client, 1))
        assert len(of(events, ev.StreamReset)) == 1
    engine.take_output()
    assert not engine.closed


def test_bare_rst_stream_frames_flood():
    engine, client = connect()
    wire = b"".join(RstStreamFrame(2 * i + 1, error_code=8).serialize() for i in range(1001))
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(wire)
    assert info.value.code == ErrorCodes.ENHANCE_YOUR_CALM


def test_empty_data_flood_ends_connection():
    engine, client = connect()
    sid = open_stream(engine, client, POST, end_stream=False)
    wire = DataFrame(sid, b"").serialize() * 1001
    _flood_ends_connection(engine, client, wire)


def test_empty_data_at_a_low_rate_is_fine():
    clock = FakeClock()
    engine, client = connect(clock=clock)
    sid = open_stream(engine, client, POST, end_stream=False)
    frame = DataFrame(sid, b"").serialize()
    for _ in range(1500):  # 50 per second, below the 100/s refill
        clock.advance(0.02)
        engine.receive(frame)
    assert not engine.closed
    end = DataFrame(sid, b"", flags=["END_STREAM"]).serialize()
    assert of(engine.receive(end), ev.StreamEnded)


def test_empty_data_with_end_stream_is_not_counted():
    engine, client = connect()
    bucket = engine.guard.buckets["empty"]
    sid = open_stream(engine, client, POST, end_stream=False)
    before = bucket.tokens
    engine.receive(DataFrame(sid, b"", flags=["END_STREAM"]).serialize())
    assert bucket.tokens == before


# --- resets sent by the server count too (MadeYouReset) -------------------------------------------

def test_reset_stream_counts_toward_reset_budget():
    engine, client = connect()
    sid = open_stream(engine, client)
    bucket = engine.guard.buckets["reset"]
    before = bucket.tokens
    engine.reset_stream(sid, ErrorCodes.INTERNAL_ERROR)
    assert bucket.tokens == before - 1
    frames = parse_frames(engine.take_output())
    assert [(f.stream_id, f.error_code) for f in frames if isinstance(f, RstStreamFrame)] == \
        [(sid, ErrorCodes.INTERNAL_ERROR)]
    # resetting it again is a no-op: nothing sent, nothing counted
    engine.reset_stream(sid, ErrorCodes.INTERNAL_ERROR)
    assert bucket.tokens == before - 1
    assert engine.take_output() == b""
    assert engine.failure is None


def test_reset_stream_exhausting_budget_sets_failure():
    engine, client = connect(Config(max_concurrent_streams=2000))
    sids = []
    for _ in range(1001):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, REQ, end_stream=True)
        sids.append(sid)
    events = engine.receive(client.data_to_send())
    assert len(of(events, ev.RequestReceived)) == 1001
    engine.take_output()
    for sid in sids[:1000]:
        engine.reset_stream(sid, ErrorCodes.REFUSED_STREAM)
    assert engine.failure is None and not engine.closed
    engine.reset_stream(sids[1000], ErrorCodes.REFUSED_STREAM)
    assert isinstance(engine.failure, ConnectionEnd)
    assert engine.failure.code == ErrorCodes.ENHANCE_YOUR_CALM
    assert engine.closed
    out = engine.take_output()
    assert [f.error_code for f in goaways(out)] == [ErrorCodes.ENHANCE_YOUR_CALM]


def test_client_and_server_resets_share_the_budget():
    engine, client = connect()
    bucket = engine.guard.buckets["reset"]
    start = bucket.tokens
    sid = open_stream(engine, client, end_stream=False)
    client.reset_stream(sid, ErrorCodes.CANCEL)
    engine.receive(client.data_to_send())
    sid2 = open_stream(engine, client)
    engine.reset_stream(sid2, ErrorCodes.CANCEL)
    assert bucket.tokens == start - 2


# --- output buffer and misc -----------------------------------------------------------------------

def test_output_buffer_collects_until_taken():
    engine, client = connect()
    engine.ping(b"abcdefgh")
    engine.ping(b"ijklmnop")
    assert engine.output_size == 2 * (9 + 8)
    out = engine.take_output()
    assert engine.output_size == 0 and engine.take_output() == b""
    assert [f.opaque_data for f in parse_frames(out)] == [b"abcdefgh", b"ijklmnop"]


def test_server_goaway_and_closed_engine_sends_nothing_more():
    engine, client = connect()
    sid = open_stream(engine, client)
    engine.goaway(ErrorCodes.NO_ERROR, last_stream_id=sid)
    frames = goaways(engine.take_output())
    assert [(f.error_code, f.last_stream_id) for f in frames] == [(0, sid)]
    engine.closed = True
    engine.goaway(ErrorCodes.INTERNAL_ERROR, "x")
    assert engine.take_output() == b""


def test_window_update_and_initial_window_settings_are_flow_events():
    engine, client = connect()
    sid = open_stream(engine, client)
    client.increment_flow_control_window(100, stream_id=sid)
    client.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 70_000})
    events = engine.receive(client.data_to_send())
    assert sum(engine.is_flow_event(e) for e in events) == 2
    client.update_settings({SettingCodes.MAX_FRAME_SIZE: 20_000})
    events = engine.receive(client.data_to_send())
    assert of(events, ev.RemoteSettingsChanged)
    assert not any(engine.is_flow_event(e) for e in events)


def test_h2_protocol_error_becomes_connection_end():
    engine, client = connect()
    # DATA on stream 0 is a connection error (RFC 9113 §6.1).
    raw = (3).to_bytes(3, "big") + bytes([0, 0]) + bytes(4) + b"abc"
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(raw)
    assert info.value.code == ErrorCodes.PROTOCOL_ERROR
    assert goaways(engine.take_output())
    assert engine.closed


def test_stream_limit_is_left_to_the_server_not_h2():
    """h2's own MAX_CONCURRENT_STREAMS enforcement is moved out of the way (see engine.py)."""
    engine, client = connect(Config(max_concurrent_streams=2))
    assert client.remote_settings.max_concurrent_streams == 2
    client.local_settings = Settings(client=True)
    client.remote_settings = Settings(client=False)  # the client ignores the limit
    for _ in range(5):
        client.send_headers(client.get_next_available_stream_id(), REQ, end_stream=True)
    events = engine.receive(client.data_to_send())
    assert len(of(events, ev.RequestReceived)) == 5


def test_raw_window_update_is_reported():
    engine, client = connect()
    sid = open_stream(engine, client)
    events = engine.receive(WindowUpdateFrame(sid, window_increment=10).serialize())
    assert of(events, ev.WindowUpdated)
