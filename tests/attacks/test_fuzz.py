"""Hypothesis fuzzing of a live server for a bounded time: random frame sequences, mutated valid
request streams and raw bytes (HTTP/2 after the preface, and HTTP/1.1). The server must stay up,
a concurrent well-behaved client must be served without a failure, and no unhandled traceback
may appear in the server's stderr."""
from __future__ import annotations

import socket
import time

from conformance.rawh2 import PREFACE, frame, settings_frame
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

BUDGET = 24.0  # seconds of fuzzing in total, split between the strategies below
STREAM_IDS = st.sampled_from([0, 1, 2, 3, 5, 7, 9, 0x7FFFFFFF, 0x80000001])
FRAME = st.builds(
    lambda t, f, s, p, lie: frame(t, f, s, p, length=max(len(p) + lie, 0) if lie else None),
    st.integers(0, 12), st.integers(0, 255), STREAM_IDS, st.binary(max_size=64),
    st.sampled_from([0, 0, 0, 0, 1, -1, 3]))  # sometimes the length field lies

_REQUEST = None


def _valid_stream() -> bytes:
    global _REQUEST
    if _REQUEST is None:
        from hpack import Encoder
        enc = Encoder()
        h = [(":method", "POST"), (":scheme", "http"), (":path", "/sha256"),
             (":authority", "localhost"), ("content-length", "5")]
        _REQUEST = (PREFACE + settings_frame({4: 65535}) + frame(1, 0x4, 1, enc.encode(h))
                    + frame(0, 0, 1, b"hel") + frame(0, 0x1, 1, b"lo")
                    + frame(6, 0, 0, b"pingping") + frame(8, 0, 1, b"\x00\x00\x10\x00"))
    return _REQUEST


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    @property
    def spent(self) -> bool:
        return time.monotonic() > self.end


def _shoot(port: int, data: bytes, linger: float = 0.05) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        s.sendall(data)
        s.settimeout(linger)
        end = time.monotonic() + linger
        while time.monotonic() < end:
            try:
                if not s.recv(65536):
                    break
            except (TimeoutError, OSError):
                break
    except OSError:
        pass  # the server may close mid-send: that is a fine answer
    finally:
        s.close()


def _fuzz_settings(n: int):
    return settings(max_examples=n, deadline=None, database=None, derandomize=False,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


def test_fuzz_live_server(attack_server, good_client):
    srv = attack_server()
    good = good_client(srv.port, pause=0.01)
    port = srv.port
    shots = {"frames": 0, "mutated": 0, "raw": 0}

    budget = Budget(BUDGET * 0.45)

    @_fuzz_settings(1200)
    @given(st.lists(FRAME, min_size=1, max_size=12))
    def frames(fs):
        if budget.spent:
            return
        _shoot(port, PREFACE + settings_frame() + b"".join(fs))
        shots["frames"] += 1
        assert srv.alive()

    frames()

    budget = Budget(BUDGET * 0.35)

    @_fuzz_settings(250)
    @given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=6),
           st.integers(0, 420))
    def mutated(flips, cut):
        if budget.spent:
            return
        data = bytearray(_valid_stream())
        for pos, value in flips:
            if pos < len(data):
                data[pos] = value
        _shoot(port, bytes(data[:max(cut, 30)]) if cut < len(data) else bytes(data))
        shots["mutated"] += 1
        assert srv.alive()

    mutated()

    budget = Budget(BUDGET * 0.2)

    @_fuzz_settings(100)
    @given(st.one_of(
        st.binary(min_size=1, max_size=200),
        st.binary(max_size=200).map(lambda b: PREFACE + b),
        st.binary(max_size=200).map(lambda b: b"GET /hello HTTP/1.1\r\n" + b),
        st.binary(max_size=200).map(lambda b: b"POST /sha256 HTTP/1.1\r\nHost: x\r\n"
                                              b"Transfer-Encoding: chunked\r\n\r\n" + b)))
    def raw(data):
        if budget.spent:
            return
        _shoot(port, data)
        shots["raw"] += 1
        assert srv.alive()

    raw()

    good.stop(min_ok=10)
    good.check(minimum=10)
    assert srv.alive()
    assert min(shots.values()) >= 20, shots  # the fuzzing really ran
