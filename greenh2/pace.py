"""Minimum data rates and who to shed at the connection cap: the sans-IO rules for slow clients.

Why this exists: a per-read timeout that every byte resets (nginx's model) lets a client that
sends or reads one byte every few seconds hold a connection for ever, and a fixed cap makes
the next client wait behind thousands of them (slowhttptest's slowloris, slow body and slow
read). Two rules stop that, both I/O-free and clock-injected so they are unit-tested directly:

- `Pace`: Kestrel's minimum data rate (MinRequestBodyDataRate / MinResponseDataRate: 240 B/s
  after a 5 s grace). Only time the server spends *waiting for the peer* counts: waiting for
  request body while the app wants it, or for the client's socket / flow-control window while
  a response has bytes queued. A response the app produces slowly (SSE) never waits, so it is
  never slow. The peer starts with `grace` seconds of credit and earns 1/rate seconds per byte
  it moves; a wait that outlasts the credit is a rate violation.
- `Activity` and `choose_victim`: what each connection is doing, so that at
  `worker_connections` a new connection is admitted by shedding the one doing least: still in
  its headers (oldest first), then below the minimum rate, then idle keep-alive.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

Clock = Callable[[], float]

HEAD, BUSY, IDLE = "head", "busy", "idle"  # Activity.phase
HEAD_MIN_AGE = 1.0  # a connection is shed for being in its headers only after this long
# seconds of waiting before a peer below the rate counts as slow for shedding (only at the
# cap): each connection an attack gets admitted becomes sheddable this long after it stops
# reading, so it bounds how fast the cap can turn over to admit the clients queued behind
# them (slowhttptest's slow read: a canary behind ~150 queued attackers); a legitimate client
# is shed only if it moved under min_response_rate's bytes in all that time
LAG_MIN = 0.5


class Pace:
    """The minimum rate of one transfer direction (a request body, a response, a connection's
    output). `begin()` / `end(nbytes)` bracket each wait for the peer; `moved(n)` counts bytes
    moved without a wait."""

    __slots__ = ("activity", "clock", "drained", "grace", "rate", "since", "spent")

    def __init__(self, rate: float, grace: float, clock: Clock = time.monotonic,
                 activity: "Activity | None" = None) -> None:
        self.rate, self.grace, self.clock, self.activity = rate, grace, clock, activity
        self.drained = 0  # bytes the peer moved
        self.spent = 0.0  # seconds spent waiting for it (finished waits)
        self.since: float | None = None  # start of the wait in progress

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _credit(self) -> float:
        return max(self.grace, self.drained / self.rate) - self.spent

    def allowance(self, limit: float | None = None) -> float | None:
        """Seconds the next wait may last: the rate's credit, at most `limit` (a per-read
        timeout; None: none). None when neither bounds it."""
        if not self.enabled:
            return limit
        credit = max(self._credit(), 0.0)
        return credit if limit is None else min(credit, limit)

    def exhausted(self) -> bool:
        """The peer has used up its credit: below the minimum rate after the grace."""
        return self.enabled and self._credit() <= 1e-3

    def begin(self) -> None:
        self.since = self.clock()
        if self.activity is not None:
            self.activity.waiting.add(self)

    def end(self, nbytes: int = 0) -> None:
        if self.since is not None:
            self.spent += self.clock() - self.since
            self.since = None
        self.drained += nbytes
        if self.activity is not None:
            self.activity.waiting.discard(self)

    def moved(self, nbytes: int) -> None:
        self.drained += nbytes

    def lagging(self, now: float) -> bool:
        """Below the minimum rate so far (grace aside), after at least LAG_MIN s of waiting."""
        if not self.enabled:
            return False
        spent = self.spent + (now - self.since if self.since is not None else 0.0)
        return spent >= LAG_MIN and self.drained < self.rate * spent


class Activity:
    """What one connection is doing, kept up to date by its protocol code; read by the
    connection handler when it must choose a connection to shed."""

    __slots__ = ("key", "on_shed", "peer", "phase", "shed_reason", "since", "slow", "waiting")

    def __init__(self, key: Any, now: float, on_shed: Callable[[str], None] | None = None) -> None:
        self.key = key  # the connection's greenlet
        self.phase = HEAD
        self.since = now  # when it entered its phase
        self.slow = False  # a stream of it was reset for being below the minimum rate
        self.waiting: set[Pace] = set()  # paces with a wait in progress
        self.on_shed = on_shed
        self.shed_reason = ""
        self.peer = ""  # for the log line

    def enter(self, phase: str, now: float) -> None:
        if phase != self.phase:
            self.phase, self.since = phase, now

    def lagging(self, now: float) -> bool:
        return self.slow or any(p.lagging(now) for p in self.waiting)


def choose_victim(activities: Iterable[Activity], now: float) -> tuple[Activity, str] | None:
    """The connection to shed so a new one can be admitted, and why ("headers", "slow",
    "idle"); None if every connection is doing real work. `activities` in accept order, so
    the first match of a kind is the oldest."""
    slow: Activity | None = None
    idle: Activity | None = None
    for a in activities:
        if a.shed_reason:
            continue
        if a.phase == HEAD:
            if now - a.since >= HEAD_MIN_AGE:
                return a, "headers"
        elif slow is None and a.lagging(now):
            slow = a
        elif idle is None and a.phase == IDLE:
            idle = a
    if slow is not None:
        return slow, "slow"
    if idle is not None:
        return idle, "idle"
    return None
