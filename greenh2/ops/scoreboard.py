"""Live counts of pre-forked workers, readable by the master without asking the workers.

The master maps one anonymous shared page per worker slot before it forks; each worker writes
its own slot (pid, open connections, active streams, requests served) a few times a second, and
the master's control socket reads all slots. No locks: each slot has one writer, and a torn read
shows at worst a count from a moment earlier.
"""
from __future__ import annotations

import mmap
import struct

_SLOT = struct.Struct("=qqqq")  # pid, connections, streams, requests


class Scoreboard:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.mem = mmap.mmap(-1, max(_SLOT.size * slots, mmap.PAGESIZE))

    def write(self, slot: int, pid: int, connections: int, streams: int, requests: int) -> None:
        _SLOT.pack_into(self.mem, slot * _SLOT.size, pid, connections, streams, requests)

    def clear(self, slot: int) -> None:
        self.write(slot, 0, 0, 0, 0)

    def read(self, slot: int) -> dict[str, int]:
        pid, connections, streams, requests = _SLOT.unpack_from(self.mem, slot * _SLOT.size)
        return {"pid": pid, "connections": connections, "streams": streams, "requests": requests}

    def free_slot(self, used: set[int]) -> int:
        for slot in range(self.slots):
            if slot not in used:
                return slot
        raise ValueError("no free worker slot")


# In a worker process: (board, slot) set by the master right after fork.
CURRENT: tuple[Scoreboard, int] | None = None
READY_FD = -1  # in a worker: write the pid here (newline-terminated) once serving
