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

