"""curl against greenh2: ALPN h2, HTTP/1.1 fallback, prior knowledge, h2c Upgrade."""
import hashlib
import json

import pytest
from support.tools import curl

pytestmark = pytest.mark.timeout(60)


def test_tls_alpn_h2_insecure(server_alive):
    r = curl(["-k", "--http2", server_alive.https("/hello")])
    assert r.status == 200
    assert r.http_version == "2"
    assert r.body == "Hello, world!\n"


def test_tls_alpn_h2_cacert(server_alive):
    r = curl(["--cacert", server_alive.certs.certfile, "--http2", server_alive.https("/hello")])
    assert (r.status, r.http_version, r.body) == (200, "2", "Hello, world!\n")


def test_tls_http11_fallback(server_alive):
    r = curl(["-k", "--http1.1", server_alive.https("/environ")])
    assert r.status == 200
    assert r.http_version == "1.1"
    env = json.loads(r.body)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["greenh2.protocol"] == "http/1.1"
    assert env["wsgi.url_scheme"] == "https"


def test_h2c_prior_knowledge(server_alive):
    r = curl(["--http2-prior-knowledge", server_alive.http("/environ")])
    assert r.status == 200
    assert r.http_version == "2"
    env = json.loads(r.body)
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0"
    assert env["greenh2.protocol"] == "h2"
    assert env["wsgi.url_scheme"] == "http"


def test_plain_http11(server_alive):
    r = curl(["--http1.1", server_alive.http("/hello")])
    assert (r.status, r.http_version, r.body) == (200, "1.1", "Hello, world!\n")


def test_h2c_upgrade_get(server_alive):
    r = curl(["-v", "--http2", server_alive.http("/environ")])
    assert "< HTTP/1.1 101" in r.stderr, r.stderr
    assert r.status == 200
    assert r.http_version == "2"
    env = json.loads(r.body)
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0"
    assert env["REQUEST_METHOD"] == "GET"


@pytest.mark.parametrize("size", [13, 70000])
def test_h2c_upgrade_with_body(server_alive, tmp_path, size):
    body = (b"upgrade-body-" * (size // 13 + 1))[:size]
    f = tmp_path / "body.bin"
    f.write_bytes(body)
    r = curl(["-v", "--http2", "--data-binary", "@%s" % f, "-H", "Content-Type: application/x-test",
              server_alive.http("/sha256")])
    # curl only offers Upgrade: h2c for requests it can replay; it does send it with a POST body
    assert "Upgrade: h2c" in r.stderr, r.stderr
    assert "< HTTP/1.1 101" in r.stderr, "server did not switch protocols:\n" + r.stderr
    assert r.status == 200
    assert r.http_version == "2"
    assert json.loads(r.body) == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": size}


def test_h2c_upgrade_echo(server_alive, tmp_path):
    body = b"0123456789abcdef" * 1000
    f = tmp_path / "body.bin"
    f.write_bytes(body)
    r = curl(["-v", "--http2", "--data-binary", "@%s" % f, server_alive.http("/echo")])
    assert "< HTTP/1.1 101" in r.stderr, r.stderr
    assert r.http_version == "2"
    assert r.body.encode() == body


def test_h2c_upgrade_disabled(start_server):
    srv = start_server(["--no-h2c-upgrade"])
    r = curl(["-v", "--http2", srv.url_for("/environ")])
    assert "Upgrade: h2c" in r.stderr, r.stderr
    assert "< HTTP/1.1 101" not in r.stderr, r.stderr
    assert r.status == 200
    assert r.http_version == "1.1"
    env = json.loads(r.body)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    # and the body of an upgrade-offering POST is still processed over HTTP/1.1
    r = curl(["--http2", "--data-binary", "hello", srv.url_for("/sha256")])
    assert r.http_version == "1.1"
    assert json.loads(r.body) == {"sha256": hashlib.sha256(b"hello").hexdigest(), "bytes": 5}
