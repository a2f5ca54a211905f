"""greenh2.http2.receive: h2's `_receive_frame` without the eager `repr(frame)`.

The mirror must stay h2's method (the hash pins the source it was copied from), must not build
a repr for h2's do-nothing logger, must still build one for a real trace logger, and must keep
h2's answers to frames on closed streams (RFC 9113 §5.1)."""
import hashlib
import inspect

import h2.events as ev
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame

from greenh2.http2 import receive
from greenh2.http2.receive import QuietReceive
from unit.http2.test_engine import REQ, RESP, connect, exchange, of, open_stream, parse_frames


def test_mirrors_the_installed_h2_method():
    source = inspect.getsource(H2Connection._receive_frame)
    assert hashlib.sha256(source.encode()).hexdigest() == receive.MIRRORED_SOURCE_SHA256, (
        "h2's _receive_frame changed: re-mirror it in greenh2/http2/receive.py, then the hash")


@pytest.fixture
def repr_calls(monkeypatch):
    calls = []
    for cls in (DataFrame, HeadersFrame):
        original = cls.__repr__

        def counting(self, original=original):
            calls.append(type(self).__name__)
            return original(self)
        monkeypatch.setattr(cls, "__repr__", counting)
    return calls


def test_no_repr_per_frame_with_h2s_default_logger(repr_calls):
    engine, client = connect()
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, REQ)
    client.send_data(sid, b"x" * 100, end_stream=True)
    events = engine.receive(client.data_to_send())
    assert of(events, ev.RequestReceived) and of(events, ev.DataReceived)
    assert repr_calls == []


class TraceLogger:
    def __init__(self):
        self.lines = []

    def debug(self, fmt, *args):
        pass

    def trace(self, fmt, *args):
        self.lines.append(fmt % args)


def test_repr_still_built_for_a_trace_logger(repr_calls):
    logger = TraceLogger()
    server = QuietReceive(H2Configuration(client_side=False, logger=logger))
    server.initiate_connection()
    client = H2Connection(H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":authority", "a"),
                            (":path", "/")], end_stream=True)
    server.receive_data(client.data_to_send())
    assert "HeadersFrame" in repr_calls
    assert any(line.startswith("Received frame: HeadersFrame") for line in logger.lines)


def test_data_on_a_stream_we_reset_is_answered_with_rst_stream():
    """h2's StreamClosedError branch, kept: closed by RST_STREAM -> RST_STREAM STREAM_CLOSED
    (the reset ledger then drops repeats; here one late frame gets one answer or none)."""
    engine, client = connect()
    sid = open_stream(engine, client, end_stream=False)
    engine.reset_stream(sid, ErrorCodes.CANCEL)
    exchange(engine, client)
    late = DataFrame(sid)
    late.data = b"late"
    engine.receive(late.serialize())
    out = parse_frames(engine.take_output())
    assert all(isinstance(f, RstStreamFrame) and f.stream_id == sid for f in out), out


def test_headers_on_a_stream_closed_by_end_stream_is_a_connection_error():
    """h2's StreamIDTooLowError / closed-by-END_STREAM branch: STREAM_CLOSED for the
    connection (RFC 9113 §5.1)."""
    from greenh2.http2.engine import ConnectionEnd
    engine, client = connect()
    sid = open_stream(engine, client)
    engine.send_headers(sid, RESP, end_stream=True)
    exchange(engine, client)
    again = HeadersFrame(sid)
    again.data = b"\x82"
    again.flags.add("END_HEADERS")
    again.flags.add("END_STREAM")
    with pytest.raises(ConnectionEnd) as info:
        engine.receive(again.serialize())
    assert info.value.code == ErrorCodes.STREAM_CLOSED
