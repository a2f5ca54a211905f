"""greenh2.http2.starter: handler greenlets start in arrival order, BATCH per loop turn, and a
stream gone before its turn is finished without running its handler."""
import gevent

from greenh2.http2 import starter as starter_mod
from greenh2.http2.starter import BATCH, Starter


class FakeStream:
    def __init__(self, n):
        self.n, self.error, self.greenlet = n, None, None


def test_arrival_order_and_a_woken_writer_runs_before_the_next_batch():
    """The first handler wakes its connection's writer (as a real first response does); the
    writer must run before the second batch starts, not after every queued handler."""
    from gevent.event import Event
    s = Starter()
    log = []
    wake = Event()

    def writer():
        wake.wait()
        log.append("writer")

    def handler(n):
        log.append(n)
        if n == 0:
            wake.set()

    gevent.spawn(writer)
    gevent.sleep(0)  # the writer waits, like a session's writer greenlet
    streams = [FakeStream(i) for i in range(3 * BATCH)]
    for st in streams:
        s.add(st, handler, lambda st: log.append(("gone", st.n)), st.n)
    gevent.sleep(0.05)
    assert [x for x in log if x != "writer"] == list(range(3 * BATCH))  # arrival order
    assert log.index("writer") == BATCH, log  # after batch one, before batch two
    assert all(st.greenlet is not None for st in streams)
    assert s.runner is None and not s.pending


def test_stream_gone_before_its_turn_is_finished_not_run():
    s = Starter()
    ran, gone = [], []
    a, b = FakeStream(1), FakeStream(2)
    s.add(a, ran.append, gone.append, "a")
    s.add(b, ran.append, gone.append, "b")
    b.error = "reset by client"
    gevent.sleep(0.01)
    assert ran == ["a"] and gone == [b] and b.greenlet is None


def test_process_wide_instance():
    assert isinstance(starter_mod.STARTER, Starter)
