"""greenh2.pace: the minimum data rate and the choice of connection to shed, clock injected."""
from __future__ import annotations

import pytest

from greenh2.pace import BUSY, HEAD, HEAD_MIN_AGE, IDLE, LAG_MIN, Activity, Pace, choose_victim


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def wait(pace: Pace, clock: Clock, seconds: float, nbytes: int = 0) -> None:
    pace.begin()
    clock.now += seconds
    pace.end(nbytes)


def test_grace_then_rate(clock):
    pace = Pace(240, 5.0, clock)
    assert pace.allowance() == 5.0
    wait(pace, clock, 3.0, 10)
    assert pace.allowance() == pytest.approx(2.0)
    assert not pace.exhausted()
    wait(pace, clock, 2.0)
    assert pace.exhausted()  # 10 bytes in 5 s of waiting: below 240 B/s after the grace


def test_bytes_earn_time(clock):
    pace = Pace(240, 5.0, clock)
    pace.moved(240 * 20)  # 20 s of credit at the minimum rate
    wait(pace, clock, 12.0)
    assert pace.allowance() == pytest.approx(8.0)
    assert not pace.exhausted()


def test_time_not_waiting_does_not_count(clock):
    """A response the app produces slowly (SSE) never waits for the client: never slow."""
    pace = Pace(240, 5.0, clock)
    for _ in range(100):
        clock.now += 10.0  # the app thinks
        pace.moved(16)  # one small event, taken at once
    assert pace.allowance() >= 5.0 and not pace.exhausted()
    assert not pace.lagging(clock.now)


def test_allowance_capped_by_per_read_limit(clock):
    pace = Pace(240, 5.0, clock)
    pace.moved(10**9)
    assert pace.allowance(60.0) == 60.0
    assert Pace(0, 5.0, clock).allowance(60.0) == 60.0  # off: only the per-read limit
    assert Pace(0, 5.0, clock).allowance() is None
    assert not Pace(0, 5.0, clock).exhausted()


def test_lagging_counts_the_wait_in_progress(clock):
    activity = Activity("g", clock.now)
    pace = Pace(240, 5.0, clock, activity)
    pace.begin()
    assert activity.waiting == {pace}
    clock.now += LAG_MIN / 2
    assert not pace.lagging(clock.now)  # too early to tell
    clock.now += LAG_MIN
    assert pace.lagging(clock.now) and activity.lagging(clock.now)
    pace.end(10_000)
    assert activity.waiting == set()
    assert not pace.lagging(clock.now)  # 10 kB in 1.5 x LAG_MIN: fast enough


def acts(clock, *specs):
    out = []
    for i, (phase, age) in enumerate(specs):
        a = Activity(f"c{i}", clock.now - age)
        a.phase = phase
        out.append(a)
    return out


def test_victim_oldest_in_headers_first(clock):
    conns = acts(clock, (BUSY, 50), (IDLE, 40), (HEAD, 30), (HEAD, 20))
    victim, reason = choose_victim(conns, clock.now)
    assert (victim.key, reason) == ("c2", "headers")


def test_fresh_heads_are_not_shed(clock):
    conns = acts(clock, (HEAD, HEAD_MIN_AGE / 2), (BUSY, 5))
    assert choose_victim(conns, clock.now) is None


def test_victim_slow_before_idle(clock):
    conns = acts(clock, (IDLE, 50), (BUSY, 40), (BUSY, 30))
    slow = Pace(240, 5.0, clock, conns[2])
    slow.begin()
    clock.now += 2.0
    victim, reason = choose_victim(conns, clock.now)
    assert (victim.key, reason) == ("c2", "slow")
    slow.end(10**6)
    victim, reason = choose_victim(conns, clock.now)
    assert (victim.key, reason) == ("c0", "idle")


def test_flagged_slow_and_already_shed(clock):
    conns = acts(clock, (BUSY, 9), (BUSY, 8))
    conns[1].slow = True  # one of its streams was reset below the rate
    assert choose_victim(conns, clock.now)[0].key == "c1"
    conns[1].shed_reason = "slow"
    assert choose_victim(conns, clock.now) is None  # busy connections doing real work stay
