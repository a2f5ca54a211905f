"""Frame floods and reset attacks on HTTP/2. Each test mounts the attack on its own connection
while a well-behaved client is served on another, and asserts the attacker's connection is ended
with GOAWAY(ENHANCE_YOUR_CALM) (or the fitting code), memory stays bounded and the honest client
sees zero failures."""
from __future__ import annotations

import json
import struct
import time

from conformance.rawh2 import (
    CONTINUATION,
    DATA,
    GOAWAY,
    HEADERS,
    RST_STREAM,
    RawH2,
    data_frame,
    frame,
    ping_frame,
    priority_frame,
    rst_stream,
    settings_frame,
)
from h2.errors import ErrorCodes

from attacks.conftest import MiB

CALM = ErrorCodes.ENHANCE_YOUR_CALM
ATTACK_APP = "attacks.attack_app:app"


def flood_until_goaway(conn: RawH2, make_batch, batches: int = 500, deadline: float = 20.0):
    """Send batches of attack frames, draining the server's replies between batches, until the
    server sends GOAWAY or closes. Returns the GOAWAY frame (None if it never came)."""
    end = time.monotonic() + deadline
    for i in range(batches):
        if conn.closed or time.monotonic() > end:
            break
        conn.send(make_batch(i))
        f = conn.read_until(lambda fr: fr.type == GOAWAY, timeout=0.005)
        if f is not None:
            return f
    return conn.read_until(lambda fr: fr.type == GOAWAY, timeout=5)


def run_flood(attack_server, good_client, make_batch, code=CALM, extra=(), app="apps:app",
              setup=None, batches=500, max_growth=60 * MiB):
    srv = attack_server(list(extra), app=app)
    good = good_client(srv.port)
    good.wait_ok()
    baseline = srv.rss()
    with RawH2(srv.port, auto_window=False) as attacker:
        if setup is not None:
            setup(attacker)
        f = flood_until_goaway(attacker, make_batch, batches)
        assert f is not None, f"no GOAWAY; closed={attacker.closed} last={attacker.received[-5:]}"
        assert f.error_code == code, f
        attacker.expect_closed(timeout=5)
    good.wait_ok(good.ok + 3)  # still served after the attacker was sent away
    good.stop()
    good.check()
    growth = srv.peak_rss() - baseline
    assert growth < max_growth, f"server memory grew by {growth / MiB:.1f} MiB"
    return srv, good


def test_ping_flood_cve_2019_9512(attack_server, good_client):
    run_flood(attack_server, good_client,
              lambda i: b"".join(ping_frame(struct.pack(">II", i, j)) for j in range(200)))


def test_settings_flood_cve_2019_9515(attack_server, good_client):
    run_flood(attack_server, good_client,
              lambda i: settings_frame({4: 65535 + (i % 7)}) * 200)


def test_priority_churn_cve_2019_9513(attack_server, good_client):
    def batch(i):
        return b"".join(priority_frame(2 * ((i * 200 + j) % 5000) + 1,
                                       2 * ((i * 200 + j) % 5000) + 3 if j % 3 else 0, j % 256)
                        for j in range(200))
    run_flood(attack_server, good_client, batch)


def test_empty_data_frames_cve_2019_9518(attack_server, good_client):
    def setup(c):
        c.send(c.headers_frame(1, c.request_headers("/sha256", "POST"), end_stream=False))
    run_flood(attack_server, good_client, lambda i: data_frame(1, b"") * 200, setup=setup)


def test_empty_continuation_frames_cve_2019_9518(attack_server, good_client):
    """Empty CONTINUATION frames keep a field block open for free."""
    def setup(c):
        block = c.encode(c.request_headers())
        c.send(c.headers_frame(1, block=block, end_headers=False))
    run_flood(attack_server, good_client, lambda i: frame(CONTINUATION, 0, 1, b"") * 200,
              setup=setup)


def test_continuation_flood(attack_server, good_client):
    """CONTINUATION frames without END_HEADERS, full of bytes: refused once the field block
    passes the header list limit, not buffered without end."""
    def setup(c):
        c.send(c.headers_frame(1, block=c.encode(c.request_headers()), end_headers=False))
    junk = frame(CONTINUATION, 0, 1, b"\x00\x03x-a\x7f\x81\x7f" + b"a" * 16000)
    srv, _ = run_flood(attack_server, good_client, lambda i: junk * 4, setup=setup,
                       max_growth=40 * MiB)


def test_frame_announcing_16mib_refused_at_header(attack_server, good_client):
    """A frame header announcing 2^24-1 octets is refused at once: the server does not wait
    for (or buffer) the payload."""
    srv = attack_server()
    good = good_client(srv.port)
    with RawH2(srv.port) as c:
        c.send(c.headers_frame(1, c.request_headers("/sha256", "POST"), end_stream=False))
        t0 = time.monotonic()
        c.send(frame(DATA, 0, 1, b"x" * 100, length=0xFFFFFF))
        c.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR, timeout=3)
        assert time.monotonic() - t0 < 2
    good.stop()
    good.check(minimum=1)


def test_reset_flood_cve_2019_9514(attack_server, good_client):
    """Requests the server must answer with RST_STREAM (DATA on a half-closed stream): every
    reset the server sends costs the attacker's budget."""
    state = {"sid": 1}

    def batch(i):
        out = []
        for _ in range(50):
            sid = state["sid"]
            state["sid"] += 2
            out.append(attacker_headers(sid) + data_frame(sid, b"x"))
        return b"".join(out)

    run_flood(attack_server, good_client, batch, batches=200)


_ENCODER_CONN = {}


def attacker_headers(sid: int, path: str = "/hello") -> bytes:
    """A GET with END_STREAM, HPACK-encoded without the dynamic table (any encoder state)."""
    from hpack import Encoder
    enc = _ENCODER_CONN.setdefault("enc", Encoder())
    enc.header_table_size = 0
    block = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", path),
                        (":authority", "localhost")], huffman=False)
    return frame(HEADERS, 0x5, sid, block)


def _counters(port: int) -> dict:
    with RawH2(port) as c:
        c.get(1, "/counters")
        return json.loads(bytes(c.response(1).body))


def test_rapid_reset_cve_2023_44487(attack_server, good_client):
    """HEADERS + RST_STREAM pairs: the reset budget ends the connection, and handlers that keep
    running after their stream was reset count against the live-handler limit."""
    state = {"sid": 1}

    def batch(i):
        out = []
        for _ in range(100):
            sid = state["sid"]
            state["sid"] += 2
            out.append(attacker_headers(sid, "/work?s=2") + rst_stream(sid, ErrorCodes.CANCEL))
        return b"".join(out)

    srv, _ = run_flood(attack_server, good_client, batch, app=ATTACK_APP, batches=100,
                       extra=["--max-concurrent-streams", "100"])
    counts = _counters(srv.port)
    assert counts["max_running"] <= 100, counts
    assert counts["started"] <= 1100, counts


def test_made_you_reset_cve_2025_8671(attack_server, good_client):
    """The attacker makes the *server* reset streams (DATA after END_STREAM: STREAM_CLOSED).
    Those resets count toward the budget, and the reset handlers keep counting as live until
    they return, so no more than SETTINGS_MAX_CONCURRENT_STREAMS of them run at once."""
    state = {"sid": 1}

    def batch(i):
        out = []
        for _ in range(50):
            sid = state["sid"]
            state["sid"] += 2
            out.append(attacker_headers(sid, "/work?s=3") + data_frame(sid, b"boom"))
        return b"".join(out)

    srv, _ = run_flood(attack_server, good_client, batch, app=ATTACK_APP, batches=200,
                       extra=["--max-concurrent-streams", "50"])
    counts = _counters(srv.port)
    assert counts["max_running"] <= 50, counts


def test_hpack_bomb_cve_2019_9516(attack_server, good_client):
    """One 4 KiB dynamic-table entry referenced a thousand times: the decoded header list is
    bounded by SETTINGS_MAX_HEADER_LIST_SIZE and the connection ends."""
    srv = attack_server()
    good = good_client(srv.port)
    baseline = srv.rss()
    with RawH2(srv.port) as c:
        from hpack import Encoder
        enc = Encoder()
        first = enc.encode(c.request_headers() + [("x-bomb", "b" * 4000)])
        c.send(frame(HEADERS, 0x5, 1, first))
        c.response(1)
        # index 62 is the newest dynamic entry: x-bomb
        bomb = b"\x82\x86\x84" + b"\xbe" * 3000
        c.send(frame(HEADERS, 0x5, 3, bomb[:16000]))
        f = c.read_until(lambda fr: fr.type == GOAWAY or (fr.type == RST_STREAM and fr.stream_id == 3))
        assert f is not None, c.received
        assert f.error_code in (CALM, ErrorCodes.PROTOCOL_ERROR), f
        assert 3 not in c.responses or c.responses[3].status in (None, 431), c.responses.get(3)
    good.stop()
    good.check(minimum=1)
    assert srv.peak_rss() - baseline < 40 * MiB


def test_zero_length_header_names_cve_2019_9516(attack_server, good_client):
    """Headers with empty names and values (the 0-length headers leak) are refused."""
    srv = attack_server()
    good = good_client(srv.port)
    with RawH2(srv.port) as c:
        block = b"\x82\x86\x84" + b"\x40\x00\x00" * 2000
        c.send(frame(HEADERS, 0x5, 1, block))
        f = c.read_until(lambda fr: fr.type == GOAWAY or (fr.type == RST_STREAM and fr.stream_id == 1))
        assert f is not None and f.error_code in (ErrorCodes.PROTOCOL_ERROR, CALM,
                                                  ErrorCodes.COMPRESSION_ERROR), c.received
    good.stop()
    good.check(minimum=1)
