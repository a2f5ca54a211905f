"""Python's cyclic garbage collector, set for a server's allocation pattern (`gc_threshold`).

Why this module exists: at Python's default threshold (700 net container allocations) a busy
serving process runs a young-generation collection every few requests and a full one every
few thousand, and each walks every object that is alive: the app's modules, h2's state, the
greenlet of every open stream. Measured on hello over h2c (`h2load -c 50 -m 10`, one process,
collections timed with `gc.callbacks`): about 6 us per request in the collector (7 % of the
process's CPU), full collections of ~22 ms each (a pause for every stream in flight). With the
threshold at 10,000 and the start-up objects frozen, five interleaved pairs gave 5 % less CPU
per request on hello and 3 % on the Flask JSON app (benchmarks/RESULTS.md). A request's own
objects are freed by reference counting; greenh2's path makes few cycles (about 0.1 collected
object per request there), so collecting less often holds little memory.

`gc.freeze()` once the app is imported moves the start-up objects to the permanent generation:
no collection walks them again, and pre-forked workers keep sharing those pages (the advice in
Python's `gc` documentation). An app that set the collector up itself at import (disabled it,
or chose its own thresholds) is left exactly as it chose; so is every process with
`gc_threshold` 0.
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger("greenh2")
_at_start: tuple[bool, tuple[int, int, int]] | None = None  # the collector before the app


def remember() -> None:
    """Record the collector's setup before the app is imported (server/cli.py, and the gunicorn
    worker in the arbiter and in the worker); the first call in a process wins."""
    global _at_start
    if _at_start is None:
        _at_start = (gc.isenabled(), gc.get_threshold())


def tune(threshold: int) -> bool:
    """Freeze what is alive now and raise the young generation's threshold to `threshold`
    (the older generations keep theirs). False, changing nothing, when `threshold` is 0 or
    the app changed the collector since start-up."""
    if not threshold:
        return False
    now = (gc.isenabled(), gc.get_threshold())
    if now != (_at_start or now):
        log.info("gc_threshold not applied: the app set up the garbage collector itself "
                 "(enabled=%s, thresholds %s)", *now)
        return False
    gc.collect()  # start-up garbage goes now, not into the permanent generation
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
    log.debug("garbage collector: %d start-up objects frozen, thresholds %s",
              gc.get_freeze_count(), gc.get_threshold())
    return True
