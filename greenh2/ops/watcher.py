"""`--reload`: notice when a source file of the application changes (development only).

Like gunicorn's and werkzeug's stat reloaders: every second, the mtimes of the imported modules
that live under the application's directory (the current directory, or `chdir`), never those in
site-packages or the standard library, plus files that appeared in the same directories. On a
change the callback runs once; the caller restarts the serving process or workers while the
listening sockets stay open.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable

INTERVAL = 1.0


def _excluded() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.realpath(r) + os.sep for r in roots if r)


def watched_files(roots: tuple[str, ...]) -> set[str]:
    """Imported .py files under one of `roots` (and not in site-packages)."""
    prefixes = tuple(os.path.realpath(r) + os.sep for r in roots)
    excluded = _excluded()
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        real = os.path.realpath(path)
        if real.startswith(prefixes) and not real.startswith(excluded) and "site-packages" not in real:
            files.add(real)
    return files


def snapshot(files: set[str]) -> dict[str, float]:
    out = {}
    for path in files:
        try:
            out[path] = os.stat(path).st_mtime
        except OSError:
            out[path] = -1.0  # deleted: a change too
    return out


def watch(roots: tuple[str, ...], on_change: Callable[[str], None], sleep: Callable[[float], None]) -> None:
    """Poll forever (run it in a greenlet with gevent.sleep); `on_change(path)` once per edit."""
    files = watched_files(roots)
    before = snapshot(files)
    while True:
        sleep(INTERVAL)
        files |= watched_files(roots)  # modules imported lazily since the last round
        now = snapshot(files)
        changed = [p for p, m in now.items() if before.get(p, m) != m]
        before = now
        if changed:
            on_change(changed[0])
