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
