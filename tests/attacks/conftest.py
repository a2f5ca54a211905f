"""Shared pieces of the attack tests: a server factory with short timeouts, a well-behaved
client running next to the attacker, and checks on server stderr and memory."""
from __future__ import annotations

import threading
import time

import pytest
from conformance.rawh2 import RawH2
from support.server import ServerProcess

APP = "apps:app"
# Short timeouts so every slow attack ends within seconds.
FAST = ["--log-level", "info", "--send-timeout", "2", "--body-timeout", "2",
        "--handshake-timeout", "1", "--keepalive", "3"]
MiB = 1 << 20


class GoodClient(threading.Thread):
    """An honest HTTP/2 client: GET /hello in a loop on one connection (a new one if the server
    closes it gracefully). Every request must succeed; `failures` records the ones that did not."""

    def __init__(self, port: int, tls: bool = False, path: str = "/hello", pause: float = 0.02,
                 per_connection: int = 50, timeout: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.port, self.tls, self.path, self.pause = port, tls, path, pause
        self.per_connection, self.timeout = per_connection, timeout
        self.ok = 0
        self.failures: list[str] = []
        self.stop_event = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn = RawH2(self.port, tls=self.tls, timeout=self.timeout)
            except Exception as exc:
                self.failures.append(f"connect: {exc!r}")
                time.sleep(0.2)
                continue
            try:
                sid = 1
                for _ in range(self.per_connection):
                    if self.stop_event.is_set():
                        break
                    t0 = time.monotonic()
                    conn.get(sid, self.path)
                    resp = conn.response(sid, timeout=self.timeout)
                    if resp.status != 200 or not resp.ended:
                        self.failures.append(f"stream {sid}: {resp!r}")
                    else:
                        self.ok += 1
                        self.latencies.append(time.monotonic() - t0)
                    sid += 2
                    time.sleep(self.pause)
            except Exception as exc:
                self.failures.append(f"request: {exc!r}")
            finally:
                conn.close()

    def wait_ok(self, n: int = 1) -> None:
        """Until `n` requests were served since start (readiness: the client runs and the
        server answers it) or the client failed; AssertionError after the client's timeout."""
        end = time.monotonic() + self.timeout
        while self.ok < n and not self.failures:
            assert time.monotonic() < end, f"well-behaved client served {self.ok} of {n}"
            time.sleep(0.02)

    def stop(self, min_ok: int = 5) -> None:
        """Stop once at least `min_ok` requests were served since start (or after a timeout)."""
        end = time.monotonic() + self.timeout
        while self.ok < min_ok and not self.failures and time.monotonic() < end:
            time.sleep(0.05)
        self.stop_event.set()
        self.join(self.timeout + 5)

    def check(self, minimum: int = 5) -> None:
        assert not self.failures, f"well-behaved client failed: {self.failures[:5]}"
        assert self.ok >= minimum, f"well-behaved client served only {self.ok} requests"


@pytest.fixture
def attack_server(request):
    """Factory: attack_server(extra_args) -> started ServerProcess. At teardown: still alive and
    no traceback in its stderr."""
    started: list[ServerProcess] = []

    def factory(extra=(), app=APP, **kw) -> ServerProcess:
        srv = ServerProcess(FAST + list(extra) + [app], **kw).start()
        started.append(srv)
        return srv
    yield factory
    try:
        for srv in started:
            text = srv.stderr_text()
            assert srv.alive(), "server died:\n" + text[-4000:]
            assert "Traceback" not in text, "server logged a traceback:\n" + text[-4000:]
    finally:
        for srv in started:
            srv.close()


@pytest.fixture
def good_client():
    """Factory: good_client(port, **kw) -> started GoodClient (stopped at teardown)."""
    clients: list[GoodClient] = []

    def factory(port: int, **kw) -> GoodClient:
        c = GoodClient(port, **kw)
        clients.append(c)
        c.start()
        return c
    yield factory
    for c in clients:
        c.stop_event.set()
    for c in clients:
        c.join(15)


def memory_growth(srv: ServerProcess, baseline: int) -> int:
    return srv.peak_rss() - baseline
