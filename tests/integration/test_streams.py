"""Stream-level HTTP/2 behaviour with a raw frame client."""
import hashlib
import json
import time
import uuid

import h2.events
import pytest
from apps import download_chunks
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from support.h2raw import H2Client

pytestmark = pytest.mark.timeout(40)


def client(server, tls=False, **kw):
    if tls:
        return H2Client("127.0.0.1", server.tls_port, tls=True, **kw)
    return H2Client("127.0.0.1", server.plain_port, **kw)


def get_json(c, path, timeout=5):
    sid = c.get(path)
    r = c.wait_stream(sid, timeout=timeout)
    assert r.status == 200, r
    return json.loads(bytes(r.data))


def test_simple_get_has_date_and_server(server_alive):
    with client(server_alive) as c:
        r = c.wait_stream(c.get("/hello"))
        assert r.status == 200 and r.ended
        assert bytes(r.data) == b"Hello, world!\n"
        assert r.header("date"), r.headers
        assert r.header("server"), r.headers


def test_ping_is_acked(server_alive):
    with client(server_alive) as c:
        c.ping(b"pingpong")
        evs = c.read_events(until=lambda c: any(isinstance(e, h2.events.PingAckReceived)
                                                for e in c.events), timeout=5)
        acks = [e for e in c.events if isinstance(e, h2.events.PingAckReceived)]
        assert acks[0].ping_data == b"pingpong", evs


@pytest.mark.parametrize("tls", [False, True])
def test_client_reset_mid_response(server_alive, tls):
    key = uuid.uuid4().hex
    with client(server_alive, tls=tls) as c:
        slow = c.get("/slow-stream?id=%s&n=100&delay=0.05" % key)
        other_sleep = c.get("/sleep?s=1")
        other_stream = c.get("/slow-stream?id=%s-other&n=10&delay=0.05" % key)
        c.read_events(until=lambda c: len(c.streams[slow].data) >= 3 * 1024, timeout=5)
        c.reset_stream(slow, ErrorCodes.CANCEL)
        reset_at = time.monotonic()
        r_sleep, r_other = c.wait_streams([other_sleep, other_stream], timeout=10)
        assert r_sleep.status == 200 and r_sleep.ended, r_sleep
        assert r_other.status == 200 and r_other.ended, r_other
        assert len(r_other.data) == 10 * 1024
        # the handler of the reset stream must have been stopped and closed
        deadline = time.monotonic() + 5
        while True:
            events = get_json(c, "/stats?id=%s" % key)
            if "closed" in events or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "closed" in events, "reset stream's iterable was never closed: %r" % events
        assert "completed" not in events, events
        chunks_at_close = events.count("chunk")
        time.sleep(0.3)
        events2 = get_json(c, "/stats?id=%s" % key)
        assert events2.count("chunk") == chunks_at_close, "handler kept running after close"
        assert chunks_at_close < 60, "handler produced %d of 100 chunks after a reset at %.2f" % (
            chunks_at_close, reset_at)
        # the connection is still fine
        assert c.wait_stream(c.get("/hello")).status == 200


def test_error_before_headers_is_500(server_alive):
    with client(server_alive) as c:
        r = c.wait_stream(c.get("/error-before"))
        assert r.status == 500, r
        assert r.ended and r.reset is None
        assert b"boom" not in bytes(r.data), "traceback/exception text leaked to the client"
        assert c.wait_stream(c.get("/hello")).status == 200


def test_error_after_headers_resets_stream(server_alive):
    with client(server_alive) as c:
        other = c.get("/sleep?s=0.5")
        bad = c.get("/error-after")
        r_bad, r_other = c.wait_streams([bad, other], timeout=10)
        assert r_bad.status == 200
        assert r_bad.reset == ErrorCodes.INTERNAL_ERROR, r_bad
        assert not r_bad.ended
        assert r_other.status == 200 and r_other.ended, r_other
        assert c.goaway is None
        assert c.wait_stream(c.get("/hello")).status == 200


def test_initial_settings(server_alive):
    with client(server_alive) as c:
        assert c.remote_settings.max_concurrent_streams == 100
        first = c.settings_frames[0]
        assert first.get(SettingCodes.MAX_CONCURRENT_STREAMS) == 100, first
        # a few exchanges later, no SETTINGS frame has changed any value
        for _ in range(3):
            assert c.wait_stream(c.get("/hello")).status == 200
        c.ping()
        c.read_events(until=lambda c: any(isinstance(e, h2.events.PingAckReceived)
                                          for e in c.events), timeout=5)
        for later in c.settings_frames[1:]:
            for k, v in later.items():
                assert first.get(k, v) == v, "SETTINGS changed %s: %r -> %r" % (k, first.get(k), v)
            assert later.get(SettingCodes.MAX_CONCURRENT_STREAMS, 100) == 100
        assert c.remote_settings.max_concurrent_streams == 100


@pytest.mark.timeout(60)
def test_refused_stream_beyond_limit(server_alive):
    with client(server_alive) as c:
        ids = [c.get("/sleep?s=3&i=%d" % i) for i in range(100)]
        c.read_events(timeout=0.5, raise_on_timeout=False)
        c.force_stream_limit()
        extra = c.get("/hello?extra=1")
        c.read_events(until=lambda c: c.streams[extra].done, timeout=5)
        r = c.streams[extra]
        assert r.reset == ErrorCodes.REFUSED_STREAM, r
        assert c.goaway is None and not c.closed
        results = c.wait_streams(ids, timeout=20)
        assert [x.status for x in results] == [200] * 100
        # and the connection keeps working
        assert c.wait_stream(c.get("/hello")).status == 200
        assert c.goaway is None


def test_client_goaway_lets_inflight_finish(server_alive):
    with client(server_alive) as c:
        sid = c.get("/sleep?s=1")
        c.read_events(timeout=0.2, raise_on_timeout=False)
        c.send_goaway(ErrorCodes.NO_ERROR)
        r = c.wait_stream(sid, timeout=10)
        assert r.status == 200 and r.ended, r
        assert bytes(r.data).startswith(b"slept")


@pytest.mark.parametrize("tls", [False, True])
def test_slow_window_updates_no_deadlock(server_alive, tls):
    n = 300000
    with client(server_alive, tls=tls, auto_ack=False) as c:
        sid = c.get("/download?n=%d" % n)
        acked = 0
        deadline = time.monotonic() + 20
        while not c.streams[sid].done:
            assert time.monotonic() < deadline, "download stalled at %d bytes" % len(c.streams[sid].data)
            c.read_events(timeout=0.1, raise_on_timeout=False)
            got = len(c.streams[sid].data)
            if got > acked:
                step = min(got - acked, 16384)
                c.acknowledge(sid, step)
                acked += step
                time.sleep(0.02)
            assert not c.closed, "server closed the connection"
        r = c.streams[sid]
        assert r.ended and r.reset is None, r
        assert bytes(r.data) == b"".join(download_chunks(n))


@pytest.mark.parametrize("size", [100, 1024 * 1024])
def test_upload_respects_flow_control(server_alive, size):
    body = bytes(range(256)) * (size // 256)
    with client(server_alive) as c:
        sid = c.request("POST", "/sha256", headers=[("content-length", str(len(body)))], body=body)
        r = c.wait_stream(sid, timeout=20)
        assert r.status == 200, r
        assert json.loads(bytes(r.data)) == {"sha256": hashlib.sha256(body).hexdigest(),
                                             "bytes": len(body)}


def test_streamed_echo_interleaved(server_alive):
    """Request body sent in pieces while the response streams back."""
    with client(server_alive) as c:
        sid = c.request("POST", "/echo", end_stream=False)
        for i in range(5):
            c.send_data(sid, b"piece-%d;" % i)
            c.read_events(timeout=0.05, raise_on_timeout=False)
        c.end_stream(sid)
        r = c.wait_stream(sid)
        assert r.status == 200
        assert bytes(r.data) == b"".join(b"piece-%d;" % i for i in range(5))
