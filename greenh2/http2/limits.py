"""Rate limits for frames a client can send for free (sans-IO; the clock is injected).

h2 answers every PING and SETTINGS and accepts any number of RST_STREAM, PRIORITY, empty DATA
and WINDOW_UPDATE frames. Each is cheap for the client and costs the server work or output, so
each kind gets a token bucket: a burst allowance plus a refill rate per second. A client that
drains a bucket gets GOAWAY(ENHANCE_YOUR_CALM) (RFC 9113 §5.4.1, §11 of RFC 9113).

Attacks covered, by the bucket that stops them:
  ping        CVE-2019-9512 ping flood
  settings    CVE-2019-9515 settings flood
  reset       CVE-2019-9514 reset flood, CVE-2023-44487 rapid reset (nghttp2: 1000, +33/s),
              CVE-2025-8671 MadeYouReset (resets the server sends count too)
  priority    CVE-2019-9513 priority churn
  empty       CVE-2019-9518 empty DATA/HEADERS/CONTINUATION frames
  window      WINDOW_UPDATE floods (zero-cost window churn)

A busy real client is not an attacker: grpcio sends a stream and a connection WINDOW_UPDATE for
each response it reads and BDP pings while data flows, so at 1,500 calls/s it would drain a
fixed window budget in seconds. So the window and ping buckets also *earn* tokens from the
useful work on the connection (EARNED): each stream opened (a HEADERS frame, which runs a
request) and each byte of DATA the server sends (what the peer's WINDOW_UPDATEs and BDP pings
answer, RFC 9113 §6.9). Earned tokens are byte-based, not per DATA frame, so window dribbling
(CVE-2019-9511: WINDOW_UPDATE(1) answered by a 1-byte DATA frame) earns nothing worth having;
a flood that does no work (no streams, no data) still has only the burst and the refill rate.
"""
from __future__ import annotations

from collections.abc import Callable

from greenh2.config import Config

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM = 0x1


class TooMuch(Exception):
    """A flood limit was exceeded: the connection ends with ENHANCE_YOUR_CALM. `limit` names
    the bucket (reported to the observer: greenh2_limit_trips_total)."""

    def __init__(self, limit: str) -> None:
        super().__init__(f"{limit} flood")
        self.limit = limit


class TokenBucket:
    __slots__ = ("capacity", "clock", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float]) -> None:
        self.capacity, self.rate, self.clock = capacity, rate, clock
        self.tokens = capacity
        self.stamp = clock()

    def earn(self, amount: float) -> None:
        """Tokens for useful work (see EARNED), up to the burst capacity."""
        self.tokens = min(self.capacity, self.tokens + amount)

    def take(self, cost: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


# (burst, refill per second) for each bucket.
BUCKETS: dict[str, tuple[float, float]] = {
    "ping": (100, 10), "settings": (100, 10), "reset": (1000, 33), "priority": (1000, 100),
    "empty": (1000, 100), "window": (10000, 1000),
}

# Tokens a bucket earns: (per stream opened, per byte of DATA sent). grpcio's unary call is one
# HEADERS, ~100 response bytes and two WINDOW_UPDATEs; a browser sends about one WINDOW_UPDATE
# per 16-32 KiB it reads; grpcio sends BDP pings while it receives data.
EARNED: dict[str, tuple[float, float]] = {"window": (4, 1 / 1024), "ping": (0.25, 1 / 16384)}


class FloodGuard:
    def __init__(self, config: Config, clock: Callable[[], float]) -> None:
        self.buckets = {name: TokenBucket(cap, rate, clock) for name, (cap, rate) in BUCKETS.items()}
        self._window, self._ping = self.buckets["window"], self.buckets["ping"]
        (self._window_stream, self._window_byte), (self._ping_stream, self._ping_byte) = \
            EARNED["window"], EARNED["ping"]

    def data_sent(self, size: int) -> None:
        """The server sent `size` bytes of DATA: the peer may answer with WINDOW_UPDATEs and
        pings (EARNED)."""
        self._window.earn(size * self._window_byte)
        self._ping.earn(size * self._ping_byte)

    def _spend(self, name: str) -> None:
        if not self.buckets[name].take():
            raise TooMuch(name)

    def on_frame(self, ftype: int, flags: int, length: int, stream_id: int) -> None:
        """Called for every received frame header, before h2 sees the frame."""
        if ftype == DATA:
            if length == 0 and not flags & END_STREAM:
                self._spend("empty")
        elif ftype in (HEADERS, CONTINUATION):
            if length == 0:
                self._spend("empty")
            elif ftype == HEADERS:  # a request (or its trailers): work done for the peer
                self._window.earn(self._window_stream)
                self._ping.earn(self._ping_stream)
        elif ftype == PING:
            self._spend("ping")
        elif ftype == SETTINGS:
            self._spend("settings")
        elif ftype == RST_STREAM:
            self._spend("reset")
        elif ftype == PRIORITY:
            self._spend("priority")
        elif ftype == WINDOW_UPDATE:
            self._spend("window")

    def count_local_reset(self) -> None:
        """A RST_STREAM the server sent (refused stream, bad frame on a closed stream...)."""
        self._spend("reset")
