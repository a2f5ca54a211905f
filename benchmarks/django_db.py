"""The database side of scenario D1 (examples/django on PostgreSQL): a throw-away PostgreSQL
cluster for the run, the example migrated, and the environment every server inherits.

Why this module exists: D1 is the only scenario with a second process the servers depend on,
and it must be started once before the servers, stopped whatever happens, and watched (the
peak number of PostgreSQL connections a server held is part of the result). The cluster code
is the test suite's (tests/support/postgres.py: initdb + pg_ctl in a temp dir, unix socket only,
PostgreSQL's default max_connections of 100).
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator

from benchmarks.servers import REPO

DJANGO_DIR = os.path.join(REPO, "examples", "django")


def server_env(server: str) -> dict:
    """The environment one server gets on top of os.environ: its own PGAPPNAME, which is what
    the sampler counts (the servers of a scenario run side by side on the same cluster)."""
    return {"PGAPPNAME": "bench-" + server}


@functools.cache
def _postgres():
    """tests/support/postgres.py, loaded by path (stdlib only; `tests` is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_postgres", os.path.join(REPO, "tests", "support", "postgres.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def database(processes: int) -> Iterator[object]:
    """Start and migrate the cluster, export its settings into os.environ (the servers inherit
    them), yield the cluster; stop it and restore os.environ at the end. `processes`: how many
    servers run at once (the harness starts all of a scenario's servers before the load and
    interleaves their repetitions), so each pool gets its share of max_connections exactly as
    examples/django sizes it for processes sharing one database (WEB_PROCESSES)."""
    cluster = _postgres().start_cluster()
    saved = dict(os.environ)
    try:
        os.environ.update(cluster.env())
        os.environ.update({"DJANGO_SECRET_KEY": "benchmark-only-secret-key",
                           "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                           "WEB_PROCESSES": str(max(1, processes))})
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=DJANGO_DIR, check=True, timeout=120)
        yield cluster
    finally:
        os.environ.clear()
        os.environ.update(saved)
        cluster.stop()


def peak_connections(cluster: object, server: str) -> contextlib.AbstractContextManager:
    """A sampler of the connections `server` holds (`.peak` after the block)."""
    return _postgres().PeakConnections(cluster, server_env(server)["PGAPPNAME"], interval=0.02)
