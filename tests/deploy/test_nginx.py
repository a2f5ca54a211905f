"""deploy/nginx: h2 over TLS at nginx, HTTP/1.1 keep-alive upstream to greenh2; a server-sent
events stream's first event arrives through nginx long before the stream ends; a WebSocket
(wss:// to nginx, an HTTP/1.1 upgrade upstream) echoes through it. nginx runs
unprivileged from a temporary prefix (pid, logs and temp paths there), with the recipe's server
block included after swapping the listen port, certificate paths and upstream address."""
import os
import ssl
import subprocess
import time

import pytest
from support.certs import make_self_signed
from support.tools import curl
from websockets.sync.client import connect as ws_connect

from .conftest import APP, DEPLOY, free_port, need, wait_port

RECIPE = os.path.join(DEPLOY, "nginx", "greenh2.conf")


def swap(text, old, new):
    assert text.count(old) == 1, "recipe changed: %r expected once in %s" % (old, RECIPE)
    return text.replace(old, new)


@pytest.fixture
def nginx(tmp_path, background, start_server):
    binary = need("nginx", "nginx")
    app = start_server(["--health-path", "/healthz"], app=APP)
    certs = make_self_signed(str(tmp_path / "certs"))
    port = free_port()
    with open(RECIPE) as f:
        site = f.read()
    site = swap(site, "server 127.0.0.1:8000;", "server 127.0.0.1:%d;" % app.port)
    site = swap(site, "listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % port)
    site = swap(site, "/etc/ssl/greenh2/cert.pem", certs.certfile)
    site = swap(site, "/etc/ssl/greenh2/key.pem", certs.keyfile)
    (tmp_path / "site.conf").write_text(site)
    for d in ("logs", "tmp"):
        (tmp_path / d).mkdir()
    temp = " ".join("%s_temp_path %s/tmp/%s;" % (k, tmp_path, k)
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        "worker_processes 1;\nerror_log %s/logs/error.log info;\npid %s/nginx.pid;\n"
        "events { worker_connections 256; }\n"
        "http { access_log %s/logs/access.log; %s\ninclude %s/site.conf; }\n"
        % (tmp_path, tmp_path, tmp_path, temp, tmp_path))
    check = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                           capture_output=True, text=True, timeout=20)
    assert check.returncode == 0, check.stderr
    proc = background([binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                       "-g", "daemon off;"], "nginx")
    wait_port(port)
    proc.port, proc.cacert, proc.app, proc.prefix = port, certs.certfile, app, tmp_path
    return proc


def test_curl_http2_through_nginx_reaches_greenh2_over_http11_keepalive(nginx):
    url = "https://localhost:%d" % nginx.port
    for _ in range(3):
        r = curl(["--http2", "--cacert", nginx.cacert, url + "/environ"], timeout=10)
        assert r.status == 200 and r.http_version == "2", r.body
        assert '"SERVER_PROTOCOL": "HTTP/1.1"' in r.body
        assert '"HTTP_X_FORWARDED_PROTO": "https"' in r.body
    r = curl(["--http2", "--cacert", nginx.cacert, url + "/healthz"], timeout=10)
    assert (r.status, r.body) == (200, "ok\n")
    # keep-alive upstream: consecutive requests reuse one connection to greenh2
    r = curl(["--http2", "--cacert", nginx.cacert, url + "/environ"], timeout=10)
    first = r.body.split('"REMOTE_PORT": "')[1].split('"')[0]
    r = curl(["--http2", "--cacert", nginx.cacert, url + "/environ"], timeout=10)
    assert r.body.split('"REMOTE_PORT": "')[1].split('"')[0] == first, "upstream not kept alive"


def test_sse_first_event_arrives_before_the_stream_ends(nginx):
    cmd = ["curl", "-sS", "-N", "--http2", "--cacert", nginx.cacert, "--max-time", "15",
           "https://localhost:%d/sse?n=3&delay=1.5" % nginx.port]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()
        first_at = time.monotonic() - t0
        rest = proc.stdout.read()
        end_at = time.monotonic() - t0
    finally:
        proc.kill()
        proc.wait(5)
    assert first.startswith(b"data: event 0"), (first, proc.stderr.read())
    assert rest.count(b"data: event") == 2
    # the stream lasts 3 x 1.5 s; a buffered proxy would hand everything over at the end
    assert end_at - first_at > 2.5, (first_at, end_at)


def test_websocket_through_nginx(nginx):
    ctx = ssl.create_default_context(cafile=nginx.cacert)
    with ws_connect("wss://localhost:%d/ws" % nginx.port, ssl=ctx, open_timeout=10,
                    close_timeout=5) as ws:
        for i in range(20):
            ws.send("message %d" % i)
            assert ws.recv(timeout=10) == "message %d" % i
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"
    # nginx held one upgraded connection across the messages: one 101 line in its access log,
    # written once the WebSocket has closed
    lines: list = []
    deadline = time.monotonic() + 10
    while not lines and time.monotonic() < deadline:
        time.sleep(0.1)
        with open(nginx.prefix / "logs" / "access.log") as f:
            lines = [line for line in f if "/ws " in line]
    assert len(lines) == 1 and '" 101 ' in lines[0], lines
