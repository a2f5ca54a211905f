"""--threads N: handlers run in an OS thread pool."""
import hashlib
import json
import time

import pytest
from apps import download_chunks
from support.h2raw import H2Client
from support.tools import curl

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def threaded(start_server):
    return start_server(["--threads", "4"])


def test_threads_concurrent_sleeps(threaded):
    with H2Client("127.0.0.1", threaded.port) as c:
        t0 = time.monotonic()
        ids = [c.get("/sleep?s=0.5&i=%d" % i) for i in range(8)]
        results = c.wait_streams(ids, timeout=10)
        elapsed = time.monotonic() - t0
    assert [r.status for r in results] == [200] * 8
    assert elapsed < 3.0, "8 x 0.5s sleeps with 4 threads took %.2fs" % elapsed


def test_threads_environ(threaded):
    with H2Client("127.0.0.1", threaded.port) as c:
        r = c.wait_stream(c.get("/environ"))
    env = json.loads(bytes(r.data))
    assert env["wsgi.multithread"] is True
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0"


@pytest.mark.slow
def test_threads_large_echo_h2(threaded, tmp_path):
    body = b"".join(download_chunks(8 * 1024 * 1024))
    f = tmp_path / "in.bin"
    f.write_bytes(body)
    out = tmp_path / "out.bin"
    r = curl(["--http2-prior-knowledge", "--data-binary", "@%s" % f, "-o", str(out),
              threaded.url_for("/echo")], timeout=60)
    assert r.status == 200 and r.http_version == "2"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(body).hexdigest()


@pytest.mark.slow
def test_threads_large_upload_h1(threaded, tmp_path):
    body = b"".join(download_chunks(16 * 1024 * 1024))
    f = tmp_path / "in.bin"
    f.write_bytes(body)
    r = curl(["--http1.1", "--data-binary", "@%s" % f, threaded.url_for("/sha256")], timeout=60)
    assert r.status == 200
    assert json.loads(r.body) == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def test_threads_error_and_reset(threaded):
    with H2Client("127.0.0.1", threaded.port) as c:
        a = c.get("/error-before")
        b = c.get("/error-after")
        d = c.get("/hello")
        ra, rb, rd = c.wait_streams([a, b, d])
    assert ra.status == 500
    assert rb.reset == 2, rb
    assert rd.status == 200


# --- one hop per request: operations queued by the thread, performed by the stream greenlet -----

def test_threads_stream_chunks_arrive_while_the_app_runs(threaded):
    """A streaming body is not held back until the app returns: each chunk wakes the hub."""
    with H2Client("127.0.0.1", threaded.port) as c:
        sid = c.get("/slow-stream?id=thr-incr&n=5&delay=0.3&size=100")
        c.read_events(until=lambda c: len(c.streams[sid].data) >= 100, timeout=5)
        first = time.monotonic()
        assert not c.streams[sid].done
        r = c.wait_stream(sid, timeout=10)
        assert r.status == 200 and len(r.data) == 500
        assert time.monotonic() - first > 0.9  # four more 0.3 s pauses came after chunk one


def test_threads_client_reset_stops_the_threaded_app(threaded):
    with H2Client("127.0.0.1", threaded.port) as c:
        sid = c.get("/slow-stream?id=thr-reset&n=100&delay=0.05&size=1024")
        c.read_events(until=lambda c: len(c.streams[sid].data) >= 3 * 1024, timeout=5)
        c.reset_stream(sid)
        deadline = time.monotonic() + 5
        while True:
            events = json.loads(bytes(c.wait_stream(c.get("/stats?id=thr-reset")).data))
            if "closed" in events or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "closed" in events and "completed" not in events, events
        assert events.count("chunk") < 60, events.count("chunk")
        assert c.wait_stream(c.get("/hello")).status == 200


def test_threads_back_pressure_stops_a_thread_the_client_does_not_read(threaded):
    """The client never returns window: the thread may queue a bounded amount, then waits."""
    with H2Client("127.0.0.1", threaded.port, auto_ack=False) as c:
        sid = c.get("/slow-stream?id=thr-bp&n=200&delay=0&size=65536")
        time.sleep(1.0)
        with H2Client("127.0.0.1", threaded.port) as other:
            events = json.loads(bytes(other.wait_stream(other.get("/stats?id=thr-bp")).data))
            assert other.wait_stream(other.get("/hello")).status == 200
        assert events.count("chunk") < 20, "thread produced %d x 64 KiB for a stalled client" % \
            events.count("chunk")
        assert not c.streams[sid].done


def test_threads_blocking_c_code_leaves_the_hub_serving(threaded):
    """What --threads is for: a handler blocking in C (hashlib over 256 MiB) does not stop
    other requests on the same connection from being answered meanwhile."""
    with H2Client("127.0.0.1", threaded.port) as c:
        slow = c.get("/c-block?mb=256")
        time.sleep(0.05)
        quick = c.get("/hello")
        c.read_events(until=lambda c: c.streams[quick].done, timeout=10)
        assert c.streams[quick].status == 200
        assert not c.streams[slow].done, "the C-bound handler finished before /hello: too fast"
        assert c.wait_stream(slow, timeout=20).status == 200


def test_threads_early_hints_and_upload(threaded):
    with H2Client("127.0.0.1", threaded.port) as c:
        r = c.wait_stream(c.get("/early-hints"))
        assert r.status == 200
        body = b"y" * 300_000
        sid = c.request("POST", "/sha256", body=body)
        r = c.wait_stream(sid, timeout=10)
        assert json.loads(bytes(r.data)) == {"sha256": hashlib.sha256(body).hexdigest(),
                                             "bytes": len(body)}
