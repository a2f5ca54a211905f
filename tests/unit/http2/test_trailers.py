"""Request trailer sections through greenh2.http2.engine.Engine, with real frames and no I/O:
good trailers reach the session as TrailersReceived; a malformed one is a stream error
PROTOCOL_ERROR (RFC 9113 §8.1, §8.1.1), and the connection and its HPACK state live on."""
import h2.events as ev
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame, HeadersFrame, RstStreamFrame

from unit.http2.test_engine import POST, REQ, RESP, connect, exchange, of, open_stream, parse_frames


def send_trailers(engine, client, sid, fields, end_stream=True):
    if end_stream:
        client.config.validate_outbound_headers = False  # let the client send what h2 refuses
        client.config.normalize_outbound_headers = False
        client.send_headers(sid, fields, end_stream=True)
        data = client.data_to_send()
    else:  # h2 refuses to send trailers without END_STREAM at all: frame them by hand
        frame = HeadersFrame(sid, client.encoder.encode(fields), flags=["END_HEADERS"])
        data = frame.serialize()
    events = engine.receive(data)
    return events, parse_frames(engine.take_output())


def test_trailers_reach_the_session_before_the_stream_end():
    engine, client = connect()
    sid = open_stream(engine, client, POST, end_stream=False)
    client.send_data(sid, b"body")
    engine.receive(client.data_to_send())
    events, frames = send_trailers(engine, client, sid, [(b"x-checksum", b"42")])
    kinds = [type(e) for e in events if getattr(e, "stream_id", None) == sid]
    assert kinds == [ev.TrailersReceived, ev.StreamEnded]
    assert of(events, ev.TrailersReceived)[0].headers == [(b"x-checksum", b"42")]
    assert not [f for f in frames if isinstance(f, (RstStreamFrame, GoAwayFrame))]


@pytest.mark.parametrize("fields,end_stream", [
    ([(b":method", b"POST")], True),                       # §8.1: no pseudo-headers in trailers
    ([(b"x-ok", b"1"), (b":path", b"/x")], True),
    ([(b"connection", b"close")], True),                   # §8.2.2: connection-specific
    ([(b"te", b"gzip")], True),
    ([(b"X-Upper", b"1")], True),                          # §8.2: upper-case name
    ([(b"x-checksum", b"1")], False),                      # §8.1: trailers must end the stream
], ids=["pseudo", "pseudo-after-field", "connection", "te", "uppercase", "no-end-stream"])
def test_malformed_trailers_reset_only_their_stream(fields, end_stream):
    engine, client = connect()
    other = open_stream(engine, client, POST, end_stream=False)  # in flight on the same connection
    sid = open_stream(engine, client, POST, end_stream=False)
    events, frames = send_trailers(engine, client, sid, fields, end_stream)
    resets = [f for f in frames if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in resets] == [(sid, ErrorCodes.PROTOCOL_ERROR)]
    assert not [f for f in frames if isinstance(f, GoAwayFrame)]
    assert [(e.stream_id, e.error_code) for e in of(events, ev.StreamReset)] == \
        [(sid, ErrorCodes.PROTOCOL_ERROR)]  # the session tells that stream's handler
    assert not of(events, ev.TrailersReceived) and not of(events, ev.StreamEnded)
    # The other stream and the HPACK state are fine: it can finish, and a new request decodes.
    client.send_data(other, b"x", end_stream=True)
    server_events, _ = exchange(engine, client)
    assert [type(e) for e in server_events] == [ev.DataReceived, ev.StreamEnded]
    engine.send_headers(other, RESP, end_stream=True)
    _, client_events = exchange(engine, client)
    assert of(client_events, ev.ResponseReceived)
    third = open_stream(engine, client, REQ)
    assert third > sid


def test_malformed_trailers_after_the_response_ended_are_ignored():
    engine, client = connect()
    sid = open_stream(engine, client, POST, end_stream=False)
    engine.send_headers(sid, RESP, end_stream=True)  # half-closed (local)
    client.receive_data(engine.take_output())
    events, frames = send_trailers(engine, client, sid, [(b":method", b"POST")])
    assert not [f for f in frames if isinstance(f, GoAwayFrame)]
    open_stream(engine, client, REQ)  # the connection still serves
