"""max_body_size on HTTP/2, sans-IO: a real Engine fed by a real h2 client, and an H2Stream on
top of it (README: Request body size)."""
import h2.events as ev
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import RstStreamFrame, WindowUpdateFrame

from greenh2.config import Config
from greenh2.errors import RequestBodyTooLarge
from greenh2.http2.stream import H2Stream
from unit.http2.test_engine import POST, connect, of, open_stream, parse_frames

CAP = 1000


class Owner:
    """What an H2Stream uses of its session, over a real Engine."""

    def __init__(self, engine, config):
        self.engine, self.config = engine, config

    def wake_writer(self):
        pass

    def wait_output_room(self):
        pass


def setup(**cfg):
    config = Config(max_body_size=CAP, connection_window_size=65535, initial_window_size=65535,
                    **cfg)
    engine, client = connect(config)
    sid = open_stream(engine, client, POST, end_stream=False)
    return engine, client, H2Stream(Owner(engine, config), sid), sid


def feed(engine, client, stream, data, end=False):
    client.send_data(stream.id, data, end_stream=end)
    for e in engine.receive(client.data_to_send()):
        if isinstance(e, ev.DataReceived):
            stream.on_data(e.data, e.flow_controlled_length)
        elif isinstance(e, ev.StreamEnded):
            stream.on_end()


def window_updates(engine):
    return [(f.stream_id, f.window_increment) for f in parse_frames(engine.take_output())
            if isinstance(f, WindowUpdateFrame)]


def read_all(stream):
    parts = []
    while True:
        data = stream.pull(65536)
        if not data:
            return b"".join(parts)
        parts.append(data)


def test_body_of_exactly_the_cap_is_read_whole():
    engine, client, stream, _ = setup()
    feed(engine, client, stream, b"x" * 600)
    feed(engine, client, stream, b"x" * 400, end=True)
    assert read_all(stream) == b"x" * CAP and not stream.too_large


def test_bytes_past_the_cap_are_dropped_and_the_read_raises_after_the_rest():
    engine, client, stream, _ = setup()
    feed(engine, client, stream, b"a" * 600)
    feed(engine, client, stream, b"b" * 600)
    assert stream.too_large and stream.received == 1200
    assert b"".join(stream.inbox) == b"a" * 600 + b"b" * 400  # only what fits is kept
    assert stream.unacked == CAP
    assert stream.pull(65536) == b"a" * 600  # what came under the cap is still readable
    assert stream.pull(65536) == b"b" * 400
    with pytest.raises(RequestBodyTooLarge) as info:
        stream.pull(65536)
    assert info.value.limit == CAP and info.value.status == 413
    with pytest.raises(RequestBodyTooLarge):  # and every read after
        stream.pull(1)


def test_dropped_bytes_go_back_to_the_connection_window_only():
    engine, client, stream, sid = setup()
    engine.take_output()
    feed(engine, client, stream, b"x" * 16000)
    feed(engine, client, stream, b"x" * 16000)
    feed(engine, client, stream, b"x" * 16000)  # 47,000 dropped: past h2's half-window batch
    updates = window_updates(engine)
    assert updates and all(s == 0 for s, _ in updates), updates  # the stream's stays spent
    assert sum(i for _, i in updates) == 47000
    assert client.local_flow_control_window(sid) == 65535 - 48000


def test_ended_whole_body_over_the_cap_still_raises():
    engine, client, stream, _ = setup()
    feed(engine, client, stream, b"x" * 1500, end=True)
    assert stream.ended and stream.too_large
    assert stream.pull(65536) == b"x" * CAP
    with pytest.raises(RequestBodyTooLarge):
        stream.pull(65536)


def test_response_started_then_past_the_cap_resets_with_cancel():
    engine, client, stream, sid = setup()
    stream.send_headers(200, [("content-type", "text/plain")], end=False)
    assert stream.responded
    engine.take_output()
    feed(engine, client, stream, b"x" * 1200)
    resets = [f for f in parse_frames(engine.take_output()) if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in resets] == [(sid, ErrorCodes.CANCEL)]
    assert stream.error  # the handler's next write raises StreamGone
    assert stream.pull(65536) == b"x" * CAP
    with pytest.raises(RequestBodyTooLarge):
        stream.pull(65536)


def test_no_cancel_after_a_complete_response():
    engine, client, stream, _ = setup()
    stream.send_headers(200, [("content-length", "2")], end=False)
    stream.send_data(b"ok", end=True)
    assert stream.response_ended
    engine.take_output()
    feed(engine, client, stream, b"x" * 1200)
    assert not [f for f in parse_frames(engine.take_output()) if isinstance(f, RstStreamFrame)]
    assert stream.error is None and stream.too_large  # the session's NO_ERROR comes after


def test_no_reset_before_a_response_and_informational_heads_do_not_count():
    engine, client, stream, _ = setup()
    stream.send_headers(103, [("link", "</a.css>; rel=preload")], end=False)
    assert not stream.responded
    engine.take_output()
    feed(engine, client, stream, b"x" * 1200)
    assert not [f for f in parse_frames(engine.take_output()) if isinstance(f, RstStreamFrame)]
    assert stream.error is None


def test_no_cap_counts_nothing():
    config = Config()
    engine, client = connect(config)
    sid = open_stream(engine, client, POST, end_stream=False)
    stream = H2Stream(Owner(engine, config), sid)
    for _ in range(3):
        feed(engine, client, stream, b"x" * 16000)
    feed(engine, client, stream, b"x" * 2000, end=True)
    assert stream.received == 0 and not stream.too_large
    assert len(read_all(stream)) == 50000 and not stream.inbox


def test_release_connection_window_on_the_engine():
    engine, client, _, sid = setup()
    client.send_data(sid, b"x" * 16000)
    client.send_data(sid, b"x" * 16000)
    client.send_data(sid, b"x" * 8000)
    assert sum(len(e.data) for e in of(engine.receive(client.data_to_send()), ev.DataReceived)) == 40000
    engine.take_output()
    engine.release_connection_window(0)
    assert engine.take_output() == b""
    engine.release_connection_window(40000)  # over half the window: one WINDOW_UPDATE, on 0
    out = engine.take_output()
    assert [(f.stream_id, f.window_increment) for f in parse_frames(out)
            if isinstance(f, WindowUpdateFrame)] == [(0, 40000)]
    client.receive_data(out)
    assert client.outbound_flow_control_window == 65535  # the connection's credit is back
    assert client.local_flow_control_window(sid) == 65535 - 40000  # the stream's is not
