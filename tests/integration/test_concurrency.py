"""Many concurrent streams on one connection each get their own handler."""
import re
import time

import pytest
from support.h2raw import H2Client
from support.tools import h2load, nghttp


@pytest.mark.timeout(60)
def test_nghttp_multiple_streams_one_connection(server_alive):
    urls = [server_alive.http("/sleep?s=1&i=%d" % i) for i in range(5)]
    t0 = time.monotonic()
    res = nghttp(["-n", "-v"] + urls, timeout=30)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout
    assert len(re.findall(r"\] Connected", out)) == 1, out[-3000:]
    statuses = re.findall(r"recv \(stream_id=(\d+)\) :status: (\d+)", out)
    assert len({sid for sid, _ in statuses}) == 5, out[-3000:]
    assert all(code == "200" for _, code in statuses), statuses
    # five 1 s sleeps served concurrently, not one after the other
    assert elapsed < 4.0, "5 x /sleep?s=1 on one connection took %.1fs" % elapsed


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_h2load_200_sleeping_streams_one_connection(start_server):
    # 200 streams with the default MAX_CONCURRENT_STREAMS=100: h2load keeps at
    # most 100 in flight, so ~2 rounds of 0.5 s; serial would take 100 s.
    srv = start_server([])
    res, stats = h2load(["-c", "1", "-m", "200", "-n", "200", srv.url_for("/sleep?s=0.5")],
                        timeout=60)
    assert stats.succeeded == 200, res.stdout[-3000:]
    assert stats.failed == 0 and stats.errored == 0 and stats.timeout == 0, res.stdout[-3000:]
    assert stats.status_2xx == 200, res.stdout[-3000:]
    assert stats.protocol == "h2c", res.stdout[-3000:]
    assert stats.finished_in is not None and stats.finished_in < 20.0, res.stdout[-3000:]
    assert srv.alive()


@pytest.mark.timeout(30)
def test_raw_client_ten_sleeping_streams(server_alive):
    with H2Client("127.0.0.1", server_alive.plain_port) as c:
        t0 = time.monotonic()
        ids = [c.get("/sleep?s=1&i=%d" % i) for i in range(10)]
        results = c.wait_streams(ids, timeout=10)
        elapsed = time.monotonic() - t0
    for r in results:
        assert r.status == 200 and r.ended, r
        assert r.data.startswith(b"slept "), r.data
    assert elapsed < 3.0, "10 x /sleep?s=1 took %.2fs on one connection" % elapsed


@pytest.mark.timeout(30)
def test_raw_client_ten_sleeping_streams_tls(server_alive):
    with H2Client("127.0.0.1", server_alive.tls_port, tls=True) as c:
        assert c.alpn == "h2"
        t0 = time.monotonic()
        ids = [c.get("/sleep?s=1&i=%d" % i) for i in range(10)]
        results = c.wait_streams(ids, timeout=10)
        elapsed = time.monotonic() - t0
    assert [r.status for r in results] == [200] * 10
    assert elapsed < 3.0, "10 x /sleep?s=1 took %.2fs on one TLS connection" % elapsed
