"""examples/django served by `greenh2` (TLS) and by `gunicorn -k greenh2.worker` (h2c, two
workers) on a real PostgreSQL 15 with PostgreSQL's default `max_connections` (100): the admin
login over HTTP/2 (CSRF cookie and token), an ORM write read back over HTTP/2 and from
PostgreSQL itself, and 1000 concurrent streams each waiting 50 ms in the database while the
number of PostgreSQL connections stays within Django's psycopg pool (streams past the pool wait
for a connection instead of opening one)."""
import html
import json
import re
import threading
import time

import psycopg
import pytest
from e2e.gunicorn_proc import Gunicorn
from support.postgres import PeakConnections
from support.server import ServerProcess
from support.tools import curl, h2load, nghttp

from .conftest import ADMIN_PASSWORD, ADMIN_USER, APP, DJANGO_DIR

POOL = 20  # the greenh2 process's pool; PostgreSQL allows 100 connections


@pytest.fixture(scope="module")
def tls_server(django_db, certs):
    srv = ServerProcess(["-b", "127.0.0.1:0", "--certfile", certs.certfile, "--keyfile", certs.keyfile,
                         APP], env=django_db.env(DB_POOL_MAX_SIZE=POOL, PGAPPNAME="greenh2-tls"),
                        cwd=DJANGO_DIR, start_timeout=30)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def gunicorn_h2c(django_db, tmp_path_factory):
    # the pool computed by greenh2_site/pool.py: (26 - 10 reserved) // 2 workers = 8 per worker
    env = django_db.env(DB_MAX_CONNECTIONS=26, DB_RESERVED_CONNECTIONS=10, WEB_CONCURRENCY=2,
                        PGAPPNAME="gunicorn-h2c")
    g = Gunicorn(str(tmp_path_factory.mktemp("gunicorn-django")), app=APP, workers=2, env=env,
                 cwd=DJANGO_DIR, ready_path="/api/notes")
    g.start()
    try:
        yield g
    finally:
        g.kill()


def get_json(url, *args):
    r = curl(list(args) + [url])
    assert r.status == 200, (r.status, r.body[:500])
    return r, json.loads(r.body)


def check_orm_write_then_read(base, db, args):
    title = "note über h2 %d" % time.monotonic_ns()
    r = curl(args + ["-H", "content-type: application/json", "--data-binary",
                     json.dumps({"title": title, "body": "written by the ORM"}), base + "/api/notes"])
    assert (r.status, r.http_version) == (201, "2"), (r.status, r.http_version, r.body[:500])
    note = json.loads(r.body)
    r, again = get_json(base + "/api/notes/%d" % note["id"], *args)
    assert r.http_version == "2" and again == note and again["title"] == title
    with psycopg.connect(db.cluster.conninfo()) as conn:  # really in PostgreSQL
        row = conn.execute("SELECT title, body FROM notes_note WHERE id = %s", [note["id"]]).fetchone()
    assert row == (title, "written by the ORM")
    bad = curl(args + ["--data-binary", "not json", base + "/api/notes"])
    assert bad.status == 400
    return note


def admin_login(base, args, jar, password=ADMIN_PASSWORD):
    """GET the login form (csrftoken cookie + hidden token), POST it back; the response."""
    session = args + ["-c", jar, "-b", jar]
    page = curl(session + [base + "/admin/login/?next=/admin/"])
    assert (page.status, page.http_version) == (200, "2"), (page.status, page.body[:300])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    return curl(session + ["--referer", base + "/admin/login/",
                           "--data-urlencode", "csrfmiddlewaretoken=" + token,
                           "--data-urlencode", "username=" + ADMIN_USER,
                           "--data-urlencode", "password=" + password,
                           "--data-urlencode", "next=/admin/", base + "/admin/login/?next=/admin/",
                           "-D", "-"])


def post_without_token(base, tmp_path):
    """The status of a login POST without the CSRF cookie and token, over HTTP/2 (nghttp).

    Django answers 403 before it reads the body, and greenh2 then ends the stream with
    RST_STREAM(NO_ERROR), as RFC 9113 §8.1 allows ("Clients MUST NOT discard responses as a
    result of receiving such a RST_STREAM"). When that reset arrives before curl 7.88 has sent
    its body (a loaded machine), curl drops the 403 and fails with (92) "Stream error in the
    HTTP/2 framing layer"; nghttp keeps the response, as the RFC says."""
    form = tmp_path / "no-token-form"
    form.write_text("username=admin&password=x")
    res = nghttp(["-v", "-d", str(form), "-H", "referer: " + base + "/admin/login/",
                  "-H", "content-type: application/x-www-form-urlencoded", base + "/admin/login/"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    status = re.search(r"recv \(stream_id=\d+\) :status: (\d+)", res.stdout)
    assert status, res.stdout[-3000:]
    return int(status.group(1))


def check_admin(base, args, tmp_path, note):
    jar = str(tmp_path / "cookies.txt")
    wrong = admin_login(base, args, jar, password="wrong")
    assert wrong.status == 200 and "Please enter the correct username and password" in wrong.body
    assert post_without_token(base, tmp_path) == 403  # CSRF protection is on
    ok = admin_login(base, args, jar)
    assert ok.status == 302 and re.search(r"(?im)^location: /admin/\r?$", ok.body), ok.body[:800]
    assert "sessionid" in open(jar).read()
    listing = curl(args + ["-b", jar, base + "/admin/notes/note/"])
    assert (listing.status, listing.http_version) == (200, "2")
    assert html.escape(note["title"]) in listing.body  # the note written through the JSON API
    anonymous = curl(args + [base + "/admin/notes/note/"])
    assert anonymous.status == 302  # to the login page


def run_wait_batch(url, cluster, app_name, n, connections, timeout=60):
    with PeakConnections(cluster, app_name) as peak:
        t0 = time.monotonic()
        res, stats = h2load(["-n", str(n), "-c", str(connections), "-m", "100", url], timeout=timeout)
        elapsed = time.monotonic() - t0
    res.check()
    assert stats.protocol == ("h2" if url.startswith("https:") else "h2c"), stats.raw[-1500:]
    assert (stats.succeeded, stats.status_2xx, stats.failed, stats.errored) == (n, n, 0, 0), stats.raw[-2000:]
    assert peak.samples > 0
    print("%d requests: %.2fs, peak %d PostgreSQL connections (%d samples)" % (n, elapsed, peak.peak, peak.samples))
    return elapsed, peak.peak


# --- greenh2, TLS ---------------------------------------------------------------------------------

def test_psycopg_waits_cooperatively_with_the_configured_pool(tls_server):
    r, pool = get_json(tls_server.url + "/api/pool", "-k", "--http2")
    assert r.http_version == "2"
    assert pool["wait_function"] != "wait_c", pool  # psycopg saw gevent's patched select
    assert pool["options"] == {"min_size": 2, "max_size": POOL, "timeout": 30.0}
    assert pool["stats"]["pool_max"] == POOL


def test_orm_write_then_read_and_admin_login_over_tls_h2(tls_server, django_db, tmp_path):
    args = ["-k", "--http2"]
    note = check_orm_write_then_read(tls_server.url, django_db, args)
    check_admin(tls_server.url, args, tmp_path, note)


def test_1000_streams_waiting_in_postgresql_stay_within_the_pool(tls_server, django_db):
    with psycopg.connect(django_db.cluster.conninfo()) as conn:
        assert conn.execute("SHOW max_connections").fetchone()[0] == "100"  # PostgreSQL's default
    base = tls_server.url
    _, before = get_json(base + "/api/pool", "-k", "--http2")
    # 10 connections x 100 streams: 1000 requests in flight at once, 10 x max_connections
    elapsed, peak = run_wait_batch(base + "/api/db-wait?s=0.05", django_db.cluster, "greenh2-tls",
                                   n=1000, connections=10)
    _, after = get_json(base + "/api/pool", "-k", "--http2")
    # serially 1000 x 50 ms = 50 s: the waits overlapped (a concurrency check, not a speed one)
    assert elapsed < 25, elapsed
    assert 2 <= peak <= POOL, peak
    assert after["stats"]["connections_num"] <= POOL
    # more streams waited for a pooled connection than PostgreSQL could have given them
    queued = after["stats"].get("requests_queued", 0) - before["stats"].get("requests_queued", 0)
    assert queued > 100, (before["stats"], after["stats"])
    assert after["stats"].get("requests_errors", 0) == 0
    assert tls_server.alive()


# --- gunicorn -k greenh2.worker, h2c, two workers ------------------------------------------------

def test_gunicorn_worker_orm_and_admin_over_h2c(gunicorn_h2c, django_db, tmp_path):
    base = "http://127.0.0.1:%d" % gunicorn_h2c.port
    args = ["--http2-prior-knowledge"]
    r, pool = get_json(base + "/api/pool", *args)
    assert pool["options"]["max_size"] == 8 and pool["wait_function"] != "wait_c", pool
    note = check_orm_write_then_read(base, django_db, args)
    check_admin(base, args, tmp_path, note)


def test_gunicorn_worker_waits_stay_within_workers_x_pool(gunicorn_h2c, django_db):
    base = "http://127.0.0.1:%d" % gunicorn_h2c.port
    elapsed, peak = run_wait_batch(base + "/api/db-wait?s=0.05", django_db.cluster, "gunicorn-h2c",
                                   n=400, connections=4)
    assert elapsed < 10, elapsed  # serially 20 s
    assert 2 <= peak <= 2 * 8, peak


# --- more streams than the pool for longer than its timeout ----------------------------------------

def test_streams_that_wait_past_the_pool_timeout_get_503_and_the_server_keeps_serving(django_db, certs):
    env = django_db.env(DB_POOL_MAX_SIZE=1, DB_POOL_MIN_SIZE=1, DB_POOL_TIMEOUT=0.3, PGAPPNAME="tiny-pool")
    with ServerProcess(["-b", "127.0.0.1:0", APP], env=env, cwd=DJANGO_DIR, start_timeout=30) as srv:
        base = "http://127.0.0.1:%d" % srv.port
        get_json(base + "/api/pool", "--http2-prior-knowledge")  # the pool is open, its one connection idle
        results = []

        def one():
            results.append(curl(["--http2-prior-knowledge", "-D", "-", base + "/api/db-wait?s=3"]))
        threads = [threading.Thread(target=one) for _ in range(4)]
        with PeakConnections(django_db.cluster, "tiny-pool") as peak:
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        statuses = sorted(r.status for r in results)
        # one stream holds the only connection for 3 s; the others give up after 0.3 s
        assert statuses == [200, 503, 503, 503], [r.body[:300] for r in results]
        for r in results:
            if r.status == 503:
                assert re.search(r"(?im)^retry-after: 1\r?$", r.body) and "database busy" in r.body
        assert peak.peak == 1
        r, after = get_json(base + "/api/db-wait?s=0", "--http2-prior-knowledge")
        assert after["waited"] == 0
        assert srv.alive()


def test_gunicorn_preload_imports_django_patched_and_the_orm_works(django_db, tmp_path):
    """--preload imports Django in the arbiter; the worker class patches it first (before this,
    every request failed: 'DatabaseWrapper objects created in a thread can only be used in
    that same thread'), and psycopg picks the cooperative wait, not wait_c."""
    env = django_db.env(DB_MAX_CONNECTIONS=26, DB_RESERVED_CONNECTIONS=10, WEB_CONCURRENCY=2,
                        PGAPPNAME="gunicorn-preload")
    g = Gunicorn(str(tmp_path / "logs"), args=["--preload"], app=APP, workers=2, env=env,
                 cwd=DJANGO_DIR, ready_path="/api/notes")
    g.start()
    try:
        base = "http://127.0.0.1:%d" % g.port
        args = ["--http2-prior-knowledge"]
        _, pool = get_json(base + "/api/pool", *args)
        assert pool["wait_function"] != "wait_c", pool
        check_orm_write_then_read(base, django_db, args)
        elapsed, peak = run_wait_batch(base + "/api/db-wait?s=0.05", django_db.cluster,
                                       "gunicorn-preload", n=200, connections=4)
        assert elapsed < 8 and 1 <= peak <= 2 * 8, (elapsed, peak)  # serially 10 s
        assert "Traceback" not in g.log_text(), g.log_text()[-3000:]
    finally:
        g.kill()
