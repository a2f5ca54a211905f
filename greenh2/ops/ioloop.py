"""`--io-backend`: which gevent event loop runs the server.

gevent picks its loop when it creates the hub, the first time anything waits; after that the
choice is fixed for the process. So `select_loop` runs before monkey-patching (the standalone
server calls it first thing; the gunicorn worker in `init_process`), and it also exports
``GEVENT_LOOP`` so processes started later (pre-forked workers, a reload's successor) make the
same choice. Standard library only at import time.
"""
from __future__ import annotations

import os
import sys

# greenh2 name -> gevent's loop setting (gevent.config.loop / GEVENT_LOOP)
LOOPS = {"libev": "libev-cext", "libuv": "libuv"}


def select_loop(backend: str) -> None:
    """Make gevent use `backend` ('auto' leaves gevent's own choice, or GEVENT_LOOP, alone)."""
    if backend == "auto":
        return
    os.environ["GEVENT_LOOP"] = LOOPS[backend]
    if "gevent" in sys.modules:  # imported (e.g. for TLS checks) but the hub may not exist yet
        import gevent
        gevent.config.loop = LOOPS[backend]


def check_loop(backend: str) -> None:
    """Raise ImportError when the chosen loop is not built into this gevent."""
    if backend == "auto":
        return
    import importlib
    module, _, _ = {"libev": "gevent.libev.corecext.loop",
                    "libuv": "gevent.libuv.loop.loop"}[backend].rpartition(".")
    importlib.import_module(module)


def loop_name() -> str:
    """'libev' or 'libuv': the loop of the running hub (what the demo app reports)."""
    import gevent
    module = type(gevent.get_hub().loop).__module__
    return "libuv" if "libuv" in module else "libev" if "libev" in module else module
