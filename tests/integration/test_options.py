"""Listener kinds and runtime options: IPv6, unix sockets, several binds, access log,
keepalive, h2 SETTINGS from options."""
import os
import re
import socket
import time

import pytest
from h2.settings import SettingCodes
from support import http1
from support.h2raw import H2Client
from support.tools import curl

pytestmark = pytest.mark.timeout(30)


def _has_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def test_ipv6_bind(start_server):
    if not _has_ipv6():
        pytest.skip("no IPv6 loopback on this machine")
    srv = start_server(["-b", "[::1]:0"])
    assert re.match(r"^http://\[::1\]:\d+$", srv.url), srv.url
    r = curl(["-g", "--http2-prior-knowledge", srv.url_for("/environ")])
    assert r.status == 200 and r.http_version == "2"
    assert '"REMOTE_ADDR": "::1"' in r.body


def test_unix_socket_bind(start_server, tmp_path):
    path = str(tmp_path / "g.sock")
    srv = start_server(["-b", "unix:" + path])
    assert srv.url == "unix:" + path, srv.urls
    assert os.path.exists(path)
    r = curl(["--unix-socket", path, "--http2-prior-knowledge", "http://localhost/hello"])
    assert (r.status, r.http_version, r.body) == (200, "2", "Hello, world!\n")
    r = curl(["--unix-socket", path, "--http1.1", "http://localhost/environ"])
    assert r.status == 200 and r.http_version == "1.1"


def test_two_binds(start_server):
    srv = start_server(["-b", "127.0.0.1:0", "-b", "127.0.0.1:0"])
    assert len(srv.urls) == 2 and srv.urls[0] != srv.urls[1], srv.urls
    for i in range(2):
        r = curl(["--http2-prior-knowledge", srv.url_for("/hello", index=i)])
        assert r.status == 200


def test_access_log_stderr(start_server):
    srv = start_server(["--access-log", "-"])
    start = len(srv.stderr_lines())
    r = curl(["--http2-prior-knowledge", srv.url_for("/hello?al=1")])
    assert r.status == 200
    line = srv.wait_for_stderr(r"/hello\?al=1", timeout=5, start=start)
    assert line is not None, srv.stderr_text()[-2000:]
    assert " 200 " in line, line
    assert "HTTP/2" in line, line


def test_access_log_file(start_server, tmp_path):
    log = tmp_path / "access.log"
    srv = start_server(["--access-log", str(log)])
    resp = http1.simple(srv.port, "GET", "/hello?al=2")
    assert resp.status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if log.exists() and "/hello?al=2" in log.read_text():
            break
        time.sleep(0.1)
    text = log.read_text() if log.exists() else ""
    assert "/hello?al=2" in text and " 200 " in text, text


def test_keepalive_closes_idle_h1(start_server):
    srv = start_server(["--keepalive", "1"])
    sock = http1.connect(srv.port)
    reader = http1.Reader(sock)
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert http1.read_response(reader).status == 200
    t0 = time.monotonic()
    assert reader.at_eof(5), "idle keep-alive connection not closed"
    assert time.monotonic() - t0 < 4
    sock.close()


def test_keepalive_closes_idle_h2(start_server):
    srv = start_server(["--keepalive", "1"])
    c = H2Client("127.0.0.1", srv.port)
    assert c.wait_stream(c.get("/hello")).status == 200
    t0 = time.monotonic()
    c.read_events(until=lambda c: c.closed, timeout=5)
    assert time.monotonic() - t0 < 4
    assert c.goaway is not None, "idle h2 connection closed without GOAWAY"
    c.close()


def test_keepalive_does_not_cut_active_stream(start_server):
    srv = start_server(["--keepalive", "1"])
    c = H2Client("127.0.0.1", srv.port)
    r = c.wait_stream(c.get("/sleep?s=2"), timeout=10)
    assert r.status == 200 and r.ended, r
    c.close()


def test_settings_from_options(start_server):
    srv = start_server(["--max-concurrent-streams", "7", "--initial-window-size", "100000"])
    with H2Client("127.0.0.1", srv.port) as c:
        first = c.settings_frames[0]
        assert first.get(SettingCodes.MAX_CONCURRENT_STREAMS) == 7, first
        assert first.get(SettingCodes.INITIAL_WINDOW_SIZE) == 100000, first
        ids = [c.get("/sleep?s=1&i=%d" % i) for i in range(7)]
        c.force_stream_limit()
        extra = c.get("/hello")
        c.read_events(until=lambda c: c.streams[extra].done, timeout=5)
        assert c.streams[extra].reset == 7, c.streams[extra]   # REFUSED_STREAM
        assert [r.status for r in c.wait_streams(ids)] == [200] * 7


def test_no_monkey_patch_still_serves(start_server):
    srv = start_server(["--no-monkey-patch"])
    r = curl(["--http2-prior-knowledge", srv.url_for("/hello")])
    assert r.status == 200
