"""deploy/caddy: h2 over TLS to Caddy, h2c from Caddy to greenh2; 16 MiB request and response
bodies arrive intact (sha256). Caddy runs unprivileged from a temporary directory: admin API off
(as in the recipe), no automatic HTTPS (a test-made certificate), its storage under tmp."""
import hashlib
import os
import subprocess

import pytest
from apps import download_sha256
from support.certs import make_self_signed
from support.tools import curl

from .conftest import APP, DEPLOY, free_port, need, wait_port

RECIPE = os.path.join(DEPLOY, "caddy", "Caddyfile")
SIZE = 16 * 1024 * 1024


def swap(text, old, new):
    assert text.count(old) == 1, "recipe changed: %r expected once in %s" % (old, RECIPE)
    return text.replace(old, new)


@pytest.fixture
def caddy(tmp_path, background, start_server):
    binary = need("caddy", "caddy")
    apps = [start_server(["--health-path", "/healthz"], app=APP) for _ in range(2)]
    certs = make_self_signed(str(tmp_path / "certs"))
    port = free_port()
    with open(RECIPE) as f:
        text = f.read()
    assert "\tadmin off\n" in text
    text = swap(text, "\tadmin off\n", "\tadmin off\n\tauto_https off\n\thttps_port %d\n" % port)
    text = swap(text, "example.com {", "https://localhost:%d {\n\ttls %s %s"
                % (port, certs.certfile, certs.keyfile))
    text = swap(text, "reverse_proxy 127.0.0.1:8000 127.0.0.1:8001 {",
                "reverse_proxy %s {" % " ".join("127.0.0.1:%d" % a.port for a in apps))
    (tmp_path / "Caddyfile").write_text(text)
    env = dict(os.environ, HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = background([binary, "run", "--config", str(tmp_path / "Caddyfile"),
                       "--adapter", "caddyfile"], "caddy", env=env, cwd=str(tmp_path))
    wait_port(port)
    proc.port, proc.cacert, proc.apps = port, certs.certfile, apps
    return proc


def test_h2_to_caddy_h2c_to_greenh2_16mib_each_way(caddy, tmp_path):
    url = "https://localhost:%d" % caddy.port
    r = curl(["--http2", "--cacert", caddy.cacert, url + "/environ"], timeout=10)
    assert r.status == 200 and r.http_version == "2", r.body
    assert '"SERVER_PROTOCOL": "HTTP/2.0"' in r.body, r.body  # h2c upstream
    body = os.urandom(SIZE)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(body)
    r = curl(["--http2", "--cacert", caddy.cacert, "--data-binary", "@%s" % upload,
              "-H", "Content-Type: application/octet-stream", url + "/sha256"], timeout=60)
    assert r.status == 200 and r.http_version == "2"
    assert hashlib.sha256(body).hexdigest() in r.body, r.body
    out = tmp_path / "download.bin"
    res = subprocess.run(["curl", "-sS", "--http2", "--cacert", caddy.cacert, "--max-time", "60",
                          "-o", str(out), "-w", "%{http_code} %{http_version}",
                          url + "/download?n=%d" % SIZE], capture_output=True, text=True, timeout=70)
    assert res.stdout == "200 2", res.stderr
    data = out.read_bytes()
    assert len(data) == SIZE and hashlib.sha256(data).hexdigest() == download_sha256(SIZE)
