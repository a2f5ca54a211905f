"""--gc-threshold: once the app is loaded each serving process (standalone, each pre-forked
worker, the gunicorn worker) has its start-up objects frozen and the young-generation threshold
raised; 0 leaves Python's defaults; an app that set the collector up itself keeps its choice."""
import gc
import json

import pytest
from support.tools import curl

pytestmark = pytest.mark.timeout(90)
PYTHON_DEFAULT = list(gc.get_threshold())  # this interpreter's, as a fresh process has them


def _report(url):
    res = curl(["--http2-prior-knowledge", url])
    assert res.status == 200, res
    return json.loads(res.body)


def test_default_freezes_and_raises_the_threshold(start_server):
    srv = start_server(["--no-control-socket"], app="gc_app:app")
    report = _report(srv.url_for("/"))
    assert report["enabled"] is True
    assert report["threshold"] == [10000] + PYTHON_DEFAULT[1:]
    assert report["frozen"] > 1000  # the app, greenh2, gevent, h2...: start-up objects


def test_each_prefork_worker_is_tuned(start_server):
    srv = start_server(["-w", "2", "--no-control-socket", "--gc-threshold", "5000"],
                       app="gc_app:app")
    seen = {}
    for _ in range(20):  # new connections: either worker may answer
        report = _report(srv.url_for("/"))
        seen[report["pid"]] = report
        if len(seen) == 2:
            break
    assert seen
    for report in seen.values():
        assert report["threshold"][0] == 5000 and report["frozen"] > 1000


def test_zero_leaves_pythons_defaults(start_server):
    srv = start_server(["--no-control-socket", "--gc-threshold", "0"], app="gc_app:app")
    report = _report(srv.url_for("/"))
    assert report["threshold"] == PYTHON_DEFAULT and report["frozen"] == 0


def test_an_app_that_set_the_collector_up_keeps_its_choice(start_server):
    srv = start_server(["--no-control-socket"], app="gc_self_app:app")
    report = _report(srv.url_for("/"))
    assert report["threshold"] == [1234, 7, 3] and report["frozen"] == 0
    assert "gc_threshold not applied: the app set up the garbage collector itself" in \
        srv.stderr_text()


def test_gunicorn_worker_from_environment(tmp_path):
    from e2e.gunicorn_proc import Gunicorn
    g = Gunicorn(str(tmp_path), app="gc_app:app", workers=1, hooks=False, ready_path="/",
                 env={"GREENH2_GC_THRESHOLD": "7000"})
    g.start()
    try:
        report = _report(g.url("/"))
        assert report["threshold"][0] == 7000 and report["frozen"] > 1000
    finally:
        g.kill()


def test_gunicorn_worker_default(tmp_path):
    from e2e.gunicorn_proc import Gunicorn
    g = Gunicorn(str(tmp_path), app="gc_app:app", workers=1, hooks=False, ready_path="/")
    g.start()
    try:
        assert _report(g.url("/"))["threshold"][0] == 10000
    finally:
        g.kill()
