"""Attacks on server resources through flow control: CVE-2019-9511 (data dribble) and
CVE-2019-9517 (internal data buffering: the client never reads)."""
from __future__ import annotations

import socket
import time

from conformance.rawh2 import DATA, GOAWAY, RawH2, settings_frame, window_update
from h2.errors import ErrorCodes

from attacks.conftest import MiB


def test_data_dribble_window_closed_cve_2019_9511(attack_server, good_client):
    """Large responses on many streams with a zero window: the server buffers nothing beyond a
    chunk per stream and cancels each stream after --send-timeout (2 s)."""
    srv = attack_server()
    good = good_client(srv.port)
    good.wait_ok()
    baseline = srv.rss()
    with RawH2(srv.port, settings={4: 0}, auto_window=False) as c:
        sids = list(range(1, 81, 2))
        for sid in sids:
            c.get(sid, "/download?n=50000000")
        t0 = time.monotonic()
        c.read_until(lambda fr: all(c.responses.get(s) is not None and c.responses[s].reset
                                    is not None for s in sids), timeout=8)
        elapsed = time.monotonic() - t0
        codes = {c.responses[s].reset for s in sids if s in c.responses}
        assert codes == {ErrorCodes.CANCEL}, (codes, c.received[-5:])
        assert 1.5 < elapsed < 6, elapsed
        assert not [f for f in c.received if f.type == DATA and f.payload]
        c.expect_alive()  # stream-level defence: the connection itself is fine
    good.stop()
    good.check()
    assert srv.peak_rss() - baseline < 60 * MiB


def test_data_dribble_tiny_window_updates_cve_2019_9511(attack_server, good_client):
    """Opening the window one octet at a time, as fast as possible, drains the WINDOW_UPDATE
    budget: GOAWAY(ENHANCE_YOUR_CALM)."""
    srv = attack_server()
    good = good_client(srv.port)
    good.wait_ok()
    baseline = srv.rss()
    with RawH2(srv.port, settings={4: 0}, auto_window=False) as c:
        sids = list(range(1, 21, 2))
        for sid in sids:
            c.get(sid, "/download?n=50000000")
        f = None
        granted = dict.fromkeys(sids, 0)
        for _ in range(400):
            c.send(b"".join(window_update(sid, 1) for sid in sids) * 5)
            for sid in sids:
                granted[sid] += 5
            f = c.read_until(lambda fr: fr.type == GOAWAY, timeout=0.005)
            if f is not None or c.closed:
                break
        if f is None:
            f = c.read_until(lambda fr: fr.type == GOAWAY, timeout=5)
        assert f is not None and f.error_code == ErrorCodes.ENHANCE_YOUR_CALM, c.received[-5:]
        for sid in sids:  # the server never sent more than the window it was given
            sent = sum(len(g.payload) for g in c.received if g.type == DATA and g.stream_id == sid)
            assert sent <= granted[sid], (sid, sent, granted[sid])
    good.stop()
    good.check()
    assert srv.peak_rss() - baseline < 60 * MiB


def test_internal_data_buffering_cve_2019_9517(attack_server, good_client):
    """The client opens huge windows, requests lots of data and never reads: the server queues
    at most about a megabyte, then drops the connection after --send-timeout."""
    srv = attack_server()
    good = good_client(srv.port)
    good.wait_ok()
    baseline = srv.rss()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    c = RawH2(srv.port, handshake=False, sock=sock, auto_window=False)
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings_frame({4: 2**31 - 1}),
           window_update(0, 2**31 - 1 - 65535))
    for sid in range(1, 101, 2):
        c.get(sid, "/download?n=100000000")  # 50 x 100 MB requested
    time.sleep(4.5)  # never read; send timeout is 2 s
    growth = srv.peak_rss() - baseline
    # the connection must be gone: reading drains what was queued, then EOF / reset
    got = 0
    sock.settimeout(5)
    deadline = time.monotonic() + 10
    closed = False
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except (ConnectionResetError, OSError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        got += len(chunk)
    sock.close()
    good.stop()
    good.check()
    assert closed, f"connection still open after reading {got} bytes"
    assert got < 64 * MiB, got
    assert growth < 60 * MiB, f"server memory grew by {growth / MiB:.1f} MiB"
