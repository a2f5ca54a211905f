"""Reload in every mode: SIGHUP / greenh2ctl reload with one process (certificate swap, new
app code through a helper, same pid) and with --workers; --reload for development."""
import os
import shutil
import signal
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from support.certs import make_self_signed
from support.ctl import ctl_json
from support.h2raw import H2Client
from support.retrying_load import run_load
from support.wait import wait_connections, wait_for

pytestmark = pytest.mark.timeout(120)

APP = '''
import time
VERSION = %r

def app(environ, start_response):
    if environ["PATH_INFO"] == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or 1))
    body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def write_app(directory, version):
    (directory / "editapp.py").write_text(APP % version)


def serial_of_file(path):
    with open(path, "rb") as fh:
        return x509.load_pem_x509_certificate(fh.read()).serial_number


def serial_of_server(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def get(port, path="/", tls=False, timeout=10):
    c = H2Client("127.0.0.1", port, tls=tls, timeout=timeout)
    try:
        r = c.wait_stream(c.get(path), timeout=timeout)
        return r.status, bytes(r.data)
    finally:
        c.close()


@pytest.fixture
def site(tmp_path):
    """An editable app, two certificates, and the live cert/key paths the server reads."""
    write_app(tmp_path, "v1")
    one = make_self_signed(str(tmp_path / "one"))
    two = make_self_signed(str(tmp_path / "two"))
    live = (str(tmp_path / "live.crt"), str(tmp_path / "live.key"))
    shutil.copy(one.certfile, live[0])
    shutil.copy(one.keyfile, live[1])

    def rotate():  # what certbot's renewal does: new files at the same paths
        shutil.copy(two.certfile, live[0] + ".new")
        shutil.copy(two.keyfile, live[1] + ".new")
        os.replace(live[0] + ".new", live[0])
        os.replace(live[1] + ".new", live[1])
    return {"dir": tmp_path, "one": serial_of_file(one.certfile),
            "two": serial_of_file(two.certfile), "live": live, "rotate": rotate}


def tls_args(site):
    return ["--certfile", site["live"][0], "--keyfile", site["live"][1]]


def test_sighup_one_process_new_cert_and_code_under_load(start_server, site):
    pid_path = str(site["dir"] / "g.pid")
    srv = start_server(tls_args(site) + ["-p", pid_path, "--graceful-timeout", "10"],
                       app="editapp:app", cwd=str(site["dir"]), env=ENV)
    assert get(srv.port, "/", tls=True) == (200, b"v1")
    assert serial_of_server(srv.port) == site["one"]
    old = H2Client("127.0.0.1", srv.port, tls=True)  # open before the reload
    old_serial = x509.load_der_x509_certificate(old.sock.getpeercert(True)).serial_number
    slow = old.get("/sleep?2.5")
    old.read_events(timeout=0.3, raise_on_timeout=False)
    result = {}

    def load():  # h2load would count what the reload's GOAWAY refused as failed: see the module
        result["load"] = run_load("127.0.0.1", srv.port, tls=True, connections=4, streams=4,
                                  duration=10)
    t = threading.Thread(target=load)
    t.start()
    wait_connections(srv.port, 1 + 4, what="the load's 4 connections")  # the load runs
    write_app(site["dir"], "v2 (edited)")
    site["rotate"]()
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: get(srv.port, "/", tls=True) == (200, b"v2 (edited)"), what="new app code")
    swapped_at = time.monotonic()
    assert serial_of_server(srv.port) == site["two"]
    r = old.wait_stream(slow, timeout=15)  # the connection opened before keeps working
    assert r.status == 200 and r.ended and bytes(r.data) == b"v1" and old_serial == site["one"]
    old.close()
    t.join(65)
    load = result["load"]
    assert not load.lost and load.ok > 50 and load.goaways >= 4, load  # each connection was drained
    assert swapped_at < load.ended_at, "the reload finished after the load: nothing was proven"
    # same pid all along (PID file, supervisors), the helper retired, nothing left behind
    srv.wait_for_stderr("reload complete", timeout=20)
    assert srv.alive() and int(open(pid_path).read()) == srv.pid
    wait_for(lambda: not srv.children(), what="helper exit")
    assert get(srv.port, "/", tls=True) == (200, b"v2 (edited)")
    assert srv.terminate(timeout=20) == 0 and not os.path.exists(pid_path)


def test_reload_tls_only_keeps_connections_fully_usable(start_server, site):
    sock = str(site["dir"] / "g.ctl")
    srv = start_server(tls_args(site) + ["--control-socket", sock], app="editapp:app",
                       cwd=str(site["dir"]), env=ENV)
    old = H2Client("127.0.0.1", srv.port, tls=True)
    assert old.wait_stream(old.get("/")).status == 200
    site["rotate"]()
    assert wait_for(lambda: os.path.exists(sock))
    assert ctl_json(["-s", sock, "reload", "tls"])["tls"] is True
    assert serial_of_server(srv.port) == site["two"]
    again = old.wait_stream(old.get("/"), timeout=5)  # a NEW stream on the old connection
    assert again.status == 200 and old.goaway is None
    assert x509.load_der_x509_certificate(old.sock.getpeercert(True)).serial_number == site["one"]
    old.close()
    assert ctl_json(["-s", sock, "status"])["pid"] == srv.pid and not srv.children()


def test_broken_code_on_reload_keeps_the_old_process(start_server, site):
    sock = str(site["dir"] / "g.ctl")
    srv = start_server(["--control-socket", sock], app="editapp:app", cwd=str(site["dir"]),
                       env=ENV)
    (site["dir"] / "editapp.py").write_text("this is not python\n")
    assert wait_for(lambda: os.path.exists(sock))
    start = len(srv.stderr_lines())
    assert ctl_json(["-s", sock, "reload"])["reloading"] is True  # greenh2ctl reload = SIGHUP
    assert srv.wait_for_stderr("reload failed", timeout=30, start=start)
    assert get(srv.port) == (200, b"v1") and srv.alive()
    write_app(site["dir"], "v3")  # fixed: the next reload goes through
    assert ctl_json(["-s", sock, "reload"])["reloading"] is True
    wait_for(lambda: get(srv.port) == (200, b"v3"), what="v3")
    assert ctl_json(["-s", sock, "status"])["pid"] == srv.pid


def test_sighup_workers_new_cert_and_code(start_server, site):
    srv = start_server(tls_args(site) + ["-w", "2", "--no-control-socket"], app="editapp:app",
                       cwd=str(site["dir"]), env=ENV)
    wait_for(lambda: len(srv.children()) == 2, what="2 workers")
    old = H2Client("127.0.0.1", srv.port, tls=True)
    slow = old.get("/sleep?2")
    old.read_events(timeout=0.3, raise_on_timeout=False)
    (site["dir"] / "editapp.py").write_text("broken(\n")
    start = len(srv.stderr_lines())
    srv.send_signal(signal.SIGHUP)  # the new workers cannot start: the old ones keep serving
    assert srv.wait_for_stderr("reload failed", timeout=30, start=start)
    assert get(srv.port, tls=True) == (200, b"v1")
    write_app(site["dir"], "v2")
    site["rotate"]()
    first = {p.pid for p in srv.children()}
    srv.send_signal(signal.SIGHUP)
    r = old.wait_stream(slow, timeout=15)
    assert r.status == 200 and bytes(r.data) == b"v1"
    old.close()
    # once the first generation has drained and exited, every connection meets the new one
    wait_for(lambda: not first & {p.pid for p in srv.children()}, what="old workers exit")
    for _ in range(4):
        assert get(srv.port, tls=True) == (200, b"v2")
        assert serial_of_server(srv.port) == site["two"]
    assert srv.alive()


@pytest.mark.parametrize("workers", [1, 2])
def test_dev_reload_picks_up_edited_app(start_server, site, workers):
    srv = start_server(["--reload", "-w", str(workers), "--no-control-socket"],
                       app="editapp:app", cwd=str(site["dir"]), env=ENV)
    assert get(srv.port) == (200, b"v1")
    time.sleep(1.1)  # a new mtime second
    write_app(site["dir"], "v2 after edit")
    wait_for(lambda: get(srv.port) == (200, b"v2 after edit"), what="reloaded app")
    assert srv.alive()


def test_reload_tls_with_workers_keeps_workers(start_server, site):
    sock = str(site["dir"] / "g.ctl")
    srv = start_server(tls_args(site) + ["-w", "2", "--control-socket", sock], app="editapp:app",
                       cwd=str(site["dir"]), env=ENV)
    wait_for(lambda: os.path.exists(sock), what="control socket")
    st = wait_for(lambda: (lambda s: s if sum(w["ready"] for w in s["workers"]) == 2 else None)(
        ctl_json(["-s", sock, "status"])), what="2 ready workers")
    workers = {w["pid"] for w in st["workers"]}
    site["rotate"]()
    assert ctl_json(["-s", sock, "reload", "tls"])["workers"] == 2
    for _ in range(6):  # whichever worker accepts: each swapped its certificate
        assert wait_for(lambda: serial_of_server(srv.port) == site["two"], timeout=10)
    assert {p.pid for p in srv.children()} == workers


def test_stop_during_reload_stops_the_helper_too(start_server, site):
    pid_path = str(site["dir"] / "g.pid")
    srv = start_server(["-p", pid_path, "--graceful-timeout", "8"], app="editapp:app",
                       cwd=str(site["dir"]), env=ENV)
    c = H2Client("127.0.0.1", srv.port)
    slow = c.get("/sleep?3")
    c.read_events(timeout=0.3, raise_on_timeout=False)
    start = len(srv.stderr_lines())
    srv.send_signal(signal.SIGHUP)
    assert srv.wait_for_stderr("drains", timeout=30, start=start)
    helpers = {p.pid for p in srv.children()}
    assert len(helpers) == 1
    srv.send_signal(signal.SIGTERM)
    r = c.wait_stream(slow, timeout=10)
    assert r.status == 200 and bytes(r.data) == b"v1"
    c.close()
    assert srv.wait(20) == 0
    wait_for(lambda: not any(os.path.exists("/proc/%d" % p) and
                             open("/proc/%d/stat" % p).read().split()[2] != "Z" for p in helpers),
             timeout=15, what="helper exit")
    assert not os.path.exists(pid_path)


def test_restart_in_place_failing_leaves_the_helper_serving(start_server, site):
    cfg = site["dir"] / "g.toml"
    cfg.write_text("keepalive = 30\n")
    srv = start_server(["-c", str(cfg), "--graceful-timeout", "8", "--no-control-socket"],
                       app="editapp:app", cwd=str(site["dir"]), env=ENV)
    c = H2Client("127.0.0.1", srv.port)
    slow = c.get("/sleep?2")  # keeps the old process draining for a while
    c.read_events(timeout=0.3, raise_on_timeout=False)
    start = len(srv.stderr_lines())
    srv.send_signal(signal.SIGHUP)
    assert srv.wait_for_stderr("drains", timeout=30, start=start)
    cfg.write_text("keepalive = \n")  # broken while the old process drains
    assert c.wait_stream(slow, timeout=10).status == 200
    c.close()
    assert srv.wait_for_stderr("helper .* keeps serving", timeout=30, start=start)
    assert srv.alive() and get(srv.port) == (200, b"v1")  # served by the helper
    assert srv.terminate(timeout=20) == 0  # the stop reaches the helper, which exits cleanly
