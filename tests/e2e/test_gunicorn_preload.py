"""`gunicorn -k greenh2.worker --preload`: the app is imported in the arbiter, so the worker class
patches the arbiter before that import (GreenH2Worker.setup); without it a Django or psycopg app
keeps real threading locks and blocking sockets made at import (gunicorn #1566). The arbiter
still reloads on SIGHUP and stops on SIGTERM; GREENH2_MONKEY_PATCH=0 leaves the patching to the
app (tests/preload_app.py reports what it saw at import)."""
import json
import signal

import pytest
from support.wait import wait_for

pytestmark = pytest.mark.timeout(60)


def _report(g):
    status, body = g.request("/")
    assert status == 200, body
    return json.loads(body)


def test_preloaded_app_is_imported_patched_in_the_arbiter(gunicorn):
    g = gunicorn(["--preload"], app="preload_app:app", ready_path="/")
    got = _report(g)
    assert got["imported_in"] == g.pid != got["served_by"], got  # imported once, in the arbiter
    assert got["patched_at_import"] == {"socket": True, "threading": True, "lock": "gevent.thread"}
    assert got["socket_now"].startswith("gevent."), got
    old = g.wait_workers(2)
    g.signal(signal.SIGHUP)  # the patched arbiter still reloads: new workers, the same app
    new = g.wait_workers(2, exclude=old)
    wait_for(lambda: not g.worker_pids() & old, what="the old workers to exit")
    assert _report(g)["served_by"] in new
    g.signal(signal.SIGTERM)
    assert g.wait_exit(20) == 0, g.log_text()[-3000:]
    assert "Traceback" not in g.log_text(), g.log_text()[-3000:]


def test_without_preload_the_arbiter_is_left_alone(gunicorn):
    got = _report(gunicorn(app="preload_app:app", ready_path="/"))
    assert got["imported_in"] == got["served_by"], got  # imported in the (patched) worker
    assert got["patched_at_import"]["socket"] is True, got


def test_monkey_patch_off_leaves_the_arbiter_unpatched(gunicorn):
    g = gunicorn(["--preload"], app="preload_app:app", ready_path="/",
                 env={"GREENH2_MONKEY_PATCH": "0"})
    got = _report(g)
    assert got["imported_in"] == g.pid and got["patched_at_import"]["socket"] is False, got
