"""RFC 9113 §8.1.1, §8.2, §8.3: malformed requests are stream errors, checked once per block.

Real frames: hyperframe HEADERS/DATA frames whose blocks come from the client's own hpack
encoder (h2's client refuses to send most of these), fed to a started Engine next to a valid
request on another stream. Each rule: the bad stream gets RST_STREAM(PROTOCOL_ERROR), no
GOAWAY is sent, and the neighbour's request arrives and can still be answered.
"""
import h2.events as ev
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, RstStreamFrame

from greenh2.config import Config
from greenh2.http2.engine import ConnectionEnd, Engine
from greenh2.http2.request import Malformed, check_trailers, parse_request
from tests.unit.http2.test_engine import FakeClock, connect, make_client, parse_frames

GOOD = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.com"),
        (b":path", b"/ok")]
BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/bad")]
AUTH = [(b":authority", b"example.com")]


def headers_frame(client, sid, headers, end_stream=True):
    f = HeadersFrame(sid)
    f.data = client.encoder.encode(headers)
    f.flags.add("END_HEADERS")
    if end_stream:
        f.flags.add("END_STREAM")
    return f.serialize()


MALFORMED = {
    "no-authority-no-host": BASE,
    "uppercase-name": BASE + AUTH + [(b"X-Upper", b"1")],
    "space-in-name": BASE + AUTH + [(b"x sp", b"1")],
    "colon-in-name": BASE + AUTH + [(b"x:y", b"1")],
    "empty-name": BASE + AUTH + [(b"", b"1")],
    "nul-in-value": BASE + AUTH + [(b"x-a", b"a\x00b")],
    "cr-in-value": BASE + AUTH + [(b"x-a", b"a\rb")],
    "lf-in-value": BASE + AUTH + [(b"x-a", b"a\nb")],
    "leading-space": BASE + AUTH + [(b"x-a", b" a")],
    "trailing-tab": BASE + AUTH + [(b"x-a", b"a\t")],
    "connection": BASE + AUTH + [(b"connection", b"keep-alive")],
    "keep-alive": BASE + AUTH + [(b"keep-alive", b"5")],
    "proxy-connection": BASE + AUTH + [(b"proxy-connection", b"x")],
    "transfer-encoding": BASE + AUTH + [(b"transfer-encoding", b"chunked")],
    "upgrade": BASE + AUTH + [(b"upgrade", b"h2c")],
    "te-gzip": BASE + AUTH + [(b"te", b"gzip")],
    "te-list": BASE + AUTH + [(b"te", b"trailers, gzip")],
    "dup-path": BASE + AUTH + [(b":path", b"/again")],
    "dup-method": [(b":method", b"GET")] + BASE + AUTH,
    "dup-authority": BASE + AUTH + AUTH,
    "unknown-pseudo": BASE + AUTH + [(b":foo", b"bar")],
    "status-in-request": [(b":status", b"103")] + BASE + AUTH,
    "pseudo-after-regular": [(b":method", b"GET"), (b":scheme", b"https"), (b"x-a", b"1"),
                             (b":path", b"/")] + AUTH,
    "no-method": BASE[1:] + AUTH,
    "no-scheme": [BASE[0], BASE[2]] + AUTH,
    "no-path": BASE[:2] + AUTH,
    "empty-path": BASE[:2] + [(b":path", b"")] + AUTH,
    "authority-host-differ": BASE + AUTH + [(b"host", b"other.example")],
    "two-hosts": BASE + [(b"host", b"a"), (b"host", b"a")],
    "connect-with-path": [(b":method", b"CONNECT"), (b":authority", b"a:1"), (b":path", b"/")],
    "connect-without-authority": [(b":method", b"CONNECT")],
    "protocol-without-setting": [(b":method", b"CONNECT"), (b":scheme", b"https"),
                                 (b":path", b"/"), (b":protocol", b"websocket")] + AUTH,
    "content-length-letters": BASE + AUTH + [(b"content-length", b"1x")],
    "content-length-conflict": BASE + AUTH + [(b"content-length", b"1"),
                                              (b"content-length", b"2")],
}


@pytest.mark.parametrize("headers", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_request_is_a_stream_error_and_neighbour_lives(headers):
    # websocket=False: SETTINGS_ENABLE_CONNECT_PROTOCOL stays 0, so `:protocol` is malformed
    # (RFC 8441 §4); every other case is malformed whatever the setting.
    engine, client = connect(Config(websocket=False))
    client.send_headers(1, GOOD, end_stream=True)
    wire = client.data_to_send() + headers_frame(client, 3, headers)
    events = engine.receive(wire)
    assert [e.stream_id for e in events if isinstance(e, ev.RequestReceived)] == [1]
    assert 3 not in engine.heads and engine.heads[1].target == "/ok"
    out = parse_frames(engine.take_output())
    assert not [f for f in out if isinstance(f, GoAwayFrame)]
    resets = [(f.stream_id, f.error_code) for f in out if isinstance(f, RstStreamFrame)]
    assert resets == [(3, ErrorCodes.PROTOCOL_ERROR)]
    # Stream 1 can still be answered on the same connection.
    engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    client_events = client.receive_data(engine.take_output())
    assert any(isinstance(e, ev.StreamEnded) and e.stream_id == 1 for e in client_events)


def test_malformed_request_with_body_gives_connection_window_back():
    engine, client = connect()
    wire = headers_frame(client, 1, BASE, end_stream=False)
    data = DataFrame(1)
    data.data = b"x" * 1000
    events = engine.receive(wire + data.serialize())
    received = [e for e in events if isinstance(e, ev.DataReceived)]
    assert not [e for e in events if isinstance(e, ev.RequestReceived)]
    assert received and received[0].flow_controlled_length == 1000  # the session acks these


def test_malformed_trailers_reset_the_running_stream():
    engine, client = connect()
    post = GOOD[:3] + [(b":path", b"/up")]
    client.send_headers(1, [(b":method", b"POST")] + post[1:], end_stream=False)
    engine.receive(client.data_to_send())
    engine.take_output()
    events = engine.receive(headers_frame(client, 1, [(b":path", b"/x")], end_stream=True))
    assert [(type(e), e.error_code) for e in events if isinstance(e, ev.StreamReset)] == \
        [(ev.StreamReset, ErrorCodes.PROTOCOL_ERROR)]
    assert not [e for e in events if isinstance(e, ev.StreamEnded)]
    out = parse_frames(engine.take_output())
    assert [(f.stream_id, f.error_code) for f in out if isinstance(f, RstStreamFrame)] == \
        [(1, ErrorCodes.PROTOCOL_ERROR)]


def test_valid_trailers_pass():
    engine, client = connect()
    client.send_headers(1, [(b":method", b"POST")] + GOOD[1:], end_stream=False)
    engine.receive(client.data_to_send())
    events = engine.receive(headers_frame(client, 1, [(b"x-sum", b"1")], end_stream=True))
    assert [e.headers for e in events if isinstance(e, ev.TrailersReceived)] == [[(b"x-sum", b"1")]]


def test_many_malformed_streams_share_the_reset_budget():
    """Stream errors are RST_STREAMs from us: they count toward the reset budget (MadeYouReset)."""
    engine, client = connect(clock=FakeClock())
    wire = b"".join(headers_frame(client, 1 + 2 * i, BASE) for i in range(1001))
    with pytest.raises(ConnectionEnd):
        engine.receive(wire)
    goaway = [f for f in parse_frames(engine.take_output()) if isinstance(f, GoAwayFrame)]
    assert goaway and goaway[0].error_code == ErrorCodes.ENHANCE_YOUR_CALM


def test_extended_connect_allowed_when_setting_on():
    engine = Engine(Config(), FakeClock())
    engine.start()
    engine.conn.local_settings.enable_connect_protocol = 1  # what RFC 8441 support switches on
    client = make_client()
    client.initiate_connection()
    client.receive_data(engine.take_output())
    engine.receive(client.data_to_send())
    ws = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
          (b":path", b"/chat"), (b":authority", b"example.com")]
    events = engine.receive(headers_frame(client, 1, ws, end_stream=False))
    assert [e.stream_id for e in events if isinstance(e, ev.RequestReceived)] == [1]
    head = engine.heads[1]
    assert head.method == "CONNECT" and head.headers[0] == (":protocol", "websocket")


# --- the parser itself -------------------------------------------------------------------------

def test_parse_request_builds_the_head():
    head = parse_request(GOOD + [(b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"te", b"Trailers"),
                                 (b"content-length", b"0"), (b"x-empty", b"")])
    assert (head.method, head.target, head.scheme, head.authority, head.protocol) == \
        ("GET", "/ok", "https", "example.com", "HTTP/2.0")
    assert head.headers == [("cookie", "a=1"), ("cookie", "b=2"), ("te", "Trailers"),
                            ("content-length", "0"), ("x-empty", "")]


def test_host_stands_in_for_authority():
    head = parse_request(BASE + [(b"host", b"h.example")])
    assert head.authority == "h.example" and ("host", "h.example") not in head.headers


def test_plain_connect():
    head = parse_request([(b":method", b"CONNECT"), (b":authority", b"a:443")])
    assert (head.method, head.target, head.scheme, head.authority) == ("CONNECT", "", "", "a:443")


def test_trailers_rules():
    check_trailers([(b"x-a", b"1")])
    for bad in ([(b":path", b"/")], [(b"X-A", b"1")], [(b"connection", b"close")],
                [(b"x-a", b"\r")]):
        with pytest.raises(Malformed):
            check_trailers(bad)


def test_name_cache_does_not_admit_bad_names():
    parse_request(GOOD + [(b"x-cached", b"1")])
    with pytest.raises(Malformed):
        parse_request(GOOD + [(b"x-cached", b"\n")])  # value still checked for a known name
    with pytest.raises(Malformed):
        parse_request(GOOD + [(b"te", b"trailers"), (b"te", b"gzip")])  # te never cached


def test_decoder_cache_follows_the_dynamic_table():
    """Repeated all-indexed blocks are served from a cache; any other block may change the
    table, so the same bytes must then decode to the new entry (compared with hpack's own)."""
    from hpack import Decoder, Encoder

    from greenh2.http2.rules import StrictDecoder
    enc = Encoder()
    blocks = [enc.encode([(b"x-a", b"1")]), b"\x82\xbe", b"\x82\xbe",
              enc.encode([(b"x-b", b"2")]), b"\x82\xbe", b"\x82\xbf", b"\x82\xbe"]
    ours, reference = StrictDecoder(), Decoder()
    got = [ours.decode(b, raw=True) for b in blocks]
    want = [reference.decode(b, raw=True) for b in blocks]
    assert got == want
    assert got[1] == [(b":method", b"GET"), (b"x-a", b"1")]
    assert got[4] == [(b":method", b"GET"), (b"x-b", b"2")]  # same bytes, new meaning


def test_closed_streams_do_not_pile_up_in_h2():
    """h2's per-request walk over all streams runs once per 64 new streams (rules.py); closed
    streams must still be dropped from h2's table, so it stays bounded."""
    engine, client = connect()
    for _ in range(1000):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, GOOD, end_stream=True)
        engine.receive(client.data_to_send())
        engine.send_headers(sid, [(b":status", b"204")], end_stream=True)
        client.receive_data(engine.take_output())
    assert len(engine.conn.streams) <= 64 + 1
