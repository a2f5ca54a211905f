"""greenh2.http2.limits: token buckets and the per-frame-type flood guard, with a fake clock."""
import pytest

from greenh2.config import Config
from greenh2.http2 import limits as limits
from greenh2.http2.limits import BUCKETS, FloodGuard, TokenBucket, TooMuch


class FakeClock:
    def __init__(self, now=50.0):
        self.now = now

    def __call__(self):
        return self.now


def test_bucket_allows_burst_then_refuses():
    clock = FakeClock()
    bucket = TokenBucket(5, 1, clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    assert not bucket.take()  # refusing costs nothing and gives nothing back


def test_bucket_refills_at_rate():
    clock = FakeClock()
    bucket = TokenBucket(10, 4, clock)
    for _ in range(10):
        assert bucket.take()
    clock.now += 0.2  # 0.8 tokens: not enough
    assert not bucket.take()
    clock.now += 0.05  # 0.8 + 0.2 = 1.0
    assert bucket.take()
    assert not bucket.take()
    clock.now += 1.0
    assert [bucket.take() for _ in range(5)] == [True] * 4 + [False]


def test_bucket_never_exceeds_capacity():
    clock = FakeClock()
    bucket = TokenBucket(3, 100, clock)
    clock.now += 1000
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_bucket_cost():
    clock = FakeClock()
    bucket = TokenBucket(10, 1, clock)
    assert bucket.take(7)
    assert not bucket.take(4)
    assert bucket.take(3)
    assert bucket.tokens == 0


def test_bucket_uses_injected_clock_only():
    calls = []

    def clock():
        calls.append(1)
        return 0.0

    bucket = TokenBucket(1, 1, clock)
    bucket.take()
    assert len(calls) == 2  # once at creation, once per take


def test_steady_rate_at_refill_speed_is_sustainable():
    clock = FakeClock()
    bucket = TokenBucket(2, 10, clock)
    for _ in range(10_000):
        clock.now += 0.1
        assert bucket.take()


# --- FloodGuard ---------------------------------------------------------------------------------

KIND_OF_FRAME = [
    # (type, flags, length, bucket or None)
    (limits.PING, 0, 8, "ping"),
    (limits.SETTINGS, 0, 6, "settings"),
    (limits.RST_STREAM, 0, 4, "reset"),
    (limits.PRIORITY, 0, 5, "priority"),
    (limits.WINDOW_UPDATE, 0, 4, "window"),
    (limits.DATA, 0, 0, "empty"),
    (limits.HEADERS, 0x4, 0, "empty"),
    (limits.CONTINUATION, 0x4, 0, "empty"),
    (limits.DATA, limits.END_STREAM, 0, None),  # an empty DATA that ends the stream is normal
    (limits.DATA, 0, 100, None),
    (limits.HEADERS, 0x5, 20, None),
    (limits.CONTINUATION, 0x4, 3, None),
    (limits.GOAWAY, 0, 8, None),
    (limits.PUSH_PROMISE, 0x4, 8, None),
]


@pytest.mark.parametrize("ftype,flags,length,bucket", KIND_OF_FRAME)
def test_each_frame_kind_spends_its_bucket(ftype, flags, length, bucket):
    guard = FloodGuard(Config(), FakeClock())
    before = {name: b.tokens for name, b in guard.buckets.items()}
    guard.on_frame(ftype, flags, length, 1)
    after = {name: b.tokens for name, b in guard.buckets.items()}
    spent = {name for name in before if after[name] != before[name]}
    assert spent == ({bucket} if bucket else set())
    if bucket:
        assert after[bucket] == before[bucket] - 1


@pytest.mark.parametrize("name", sorted(BUCKETS))
def test_each_bucket_raises_too_much_after_its_burst(name):
    frame = {"ping": (limits.PING, 0, 8), "settings": (limits.SETTINGS, 0, 0),
             "reset": (limits.RST_STREAM, 0, 4), "priority": (limits.PRIORITY, 0, 5),
             "empty": (limits.DATA, 0, 0), "window": (limits.WINDOW_UPDATE, 0, 4)}[name]
    clock = FakeClock()
    guard = FloodGuard(Config(), clock)
    burst, rate = BUCKETS[name]
    for _ in range(int(burst)):
        guard.on_frame(*frame, 1)
    with pytest.raises(TooMuch, match=name):
        guard.on_frame(*frame, 1)
    clock.now += 1.5 / rate  # one and a half tokens back
    guard.on_frame(*frame, 1)
    with pytest.raises(TooMuch):
        guard.on_frame(*frame, 1)


def test_buckets_are_independent():
    guard = FloodGuard(Config(), FakeClock())
    for _ in range(100):
        guard.on_frame(limits.PING, 0, 8, 0)
    with pytest.raises(TooMuch):
        guard.on_frame(limits.PING, 0, 8, 0)
    guard.on_frame(limits.SETTINGS, 0, 0, 0)  # other kinds unaffected
    guard.on_frame(limits.RST_STREAM, 0, 4, 1)


def test_local_resets_share_the_reset_bucket():
    guard = FloodGuard(Config(), FakeClock())
    burst, _ = BUCKETS["reset"]
    for i in range(int(burst)):
        if i % 2:
            guard.count_local_reset()
        else:
            guard.on_frame(limits.RST_STREAM, 0, 4, 1)
    with pytest.raises(TooMuch):
        guard.count_local_reset()
    with pytest.raises(TooMuch):
        guard.on_frame(limits.RST_STREAM, 0, 4, 1)



# --- earned budgets: a busy client is not a flood ---------------------------------------------

def drain(guard, frame, n):
    for _ in range(n):
        guard.on_frame(*frame, 1)


def test_streams_opened_earn_window_and_ping_tokens():
    """grpcio's unary call: HEADERS + DATA in, two WINDOW_UPDATEs back for the response; far
    more calls than the burst, with no time passing, never trip the window bucket."""
    guard = FloodGuard(Config(), FakeClock())
    burst = int(BUCKETS["window"][0])
    for i in range(3 * burst):
        guard.on_frame(limits.HEADERS, 0x4, 30, 2 * i + 1)
        guard.on_frame(limits.DATA, limits.END_STREAM, 15, 2 * i + 1)
        guard.data_sent(113)
        guard.on_frame(limits.WINDOW_UPDATE, 0, 4, 2 * i + 1)
        guard.on_frame(limits.WINDOW_UPDATE, 0, 4, 0)
    drain(guard, (limits.PING, 0, 8), int(BUCKETS["ping"][0]))
    with pytest.raises(TooMuch, match="ping"):
        guard.on_frame(limits.PING, 0, 8, 0)
    for sid in (1, 3, 5, 7):  # four more streams: one more ping
        guard.on_frame(limits.HEADERS, 0x4, 30, sid)
    guard.on_frame(limits.PING, 0, 8, 0)


def test_data_sent_earns_by_bytes_so_window_dribbling_earns_nothing():
    guard = FloodGuard(Config(), FakeClock())
    burst = int(BUCKETS["window"][0])
    with pytest.raises(TooMuch, match="window"):
        for _ in range(burst + 20):  # CVE-2019-9511: each WINDOW_UPDATE(1) buys one DATA byte
            guard.on_frame(limits.WINDOW_UPDATE, 0, 4, 1)
            guard.data_sent(1)


def test_large_responses_earn_window_updates_and_pings():
    guard = FloodGuard(Config(), FakeClock())
    drain(guard, (limits.WINDOW_UPDATE, 0, 4), int(BUCKETS["window"][0]))
    drain(guard, (limits.PING, 0, 8), int(BUCKETS["ping"][0]))
    guard.data_sent(10 << 20)  # a 10 MiB response: ~640 pings, ~10,000 window updates
    drain(guard, (limits.WINDOW_UPDATE, 0, 4), 5000)
    drain(guard, (limits.PING, 0, 8), 100)


def test_earned_tokens_stop_at_the_burst_capacity():
    guard = FloodGuard(Config(), FakeClock())
    guard.data_sent(1 << 40)
    burst = int(BUCKETS["window"][0])
    drain(guard, (limits.WINDOW_UPDATE, 0, 4), burst)
    with pytest.raises(TooMuch, match="window"):
        guard.on_frame(limits.WINDOW_UPDATE, 0, 4, 1)


def test_zero_cost_floods_earn_nothing():
    """PING and WINDOW_UPDATE with no streams and no data: only the burst (and the refill)."""
    for name, frame in (("ping", (limits.PING, 0, 8)), ("window", (limits.WINDOW_UPDATE, 0, 4))):
        guard = FloodGuard(Config(), FakeClock())
        drain(guard, frame, int(BUCKETS[name][0]))
        with pytest.raises(TooMuch, match=name):
            guard.on_frame(*frame, 0)
