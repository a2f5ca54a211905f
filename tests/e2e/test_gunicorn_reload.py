"""Operations under `gunicorn -k greenh2.worker`, where gunicorn's own mechanisms apply:
SIGHUP (graceful worker replacement: new workers read the certificate and app code now on disk)
and --reload (gunicorn's reloader inside the greenh2 worker)."""
import shutil
import signal
import time

import pytest
from integration.test_ops_reload import serial_of_file, serial_of_server, wait_for, write_app
from support.certs import make_self_signed

pytestmark = pytest.mark.timeout(120)
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def body(g, path="/"):
    status, data = g.request(path, timeout=5)
    return data if status == 200 else None


def test_gunicorn_sighup_new_certificate_and_code(gunicorn, tmp_path):
    write_app(tmp_path, "v1")
    one = make_self_signed(str(tmp_path / "one"))
    two = make_self_signed(str(tmp_path / "two"))
    live = make_self_signed(str(tmp_path / "live"))
    shutil.copy(one.certfile, live.certfile)
    shutil.copy(one.keyfile, live.keyfile)
    g = gunicorn(app="editapp:app", tls=live, cwd=str(tmp_path), hooks=False, ready_path="/",
                 env=ENV)
    old = g.worker_pids()
    assert body(g) == b"v1" and serial_of_server(g.port) == serial_of_file(one.certfile)
    write_app(tmp_path, "v2")
    shutil.copy(two.certfile, live.certfile)
    shutil.copy(two.keyfile, live.keyfile)
    g.signal(signal.SIGHUP)
    g.wait_workers(2, exclude=old, timeout=30)
    wait_for(lambda: body(g) == b"v2", what="new code from new workers")
    assert serial_of_server(g.port) == serial_of_file(two.certfile)


def test_gunicorn_reload_option_with_greenh2_worker(gunicorn, tmp_path):
    write_app(tmp_path, "v1")
    g = gunicorn(["--reload"], app="editapp:app", cwd=str(tmp_path), hooks=False, ready_path="/",
                 workers=1, env=ENV)
    assert body(g) == b"v1"
    time.sleep(1.1)
    write_app(tmp_path, "v2 edited")
    wait_for(lambda: body(g) == b"v2 edited", timeout=30, what="gunicorn --reload")
