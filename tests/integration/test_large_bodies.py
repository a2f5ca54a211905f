"""64 MiB downloads and uploads stream through the server without buffering."""
import hashlib
import json

import pytest
from apps import download_chunks, download_sha256
from support.tools import curl

SIZE = 64 * 1024 * 1024
MIB = 1024 * 1024
MAX_GROWTH = 40 * MIB

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("upload") / "body.bin"
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for c in download_chunks(SIZE):
            f.write(c)
            h.update(c)
    return path, h.hexdigest()


@pytest.fixture
def tls_server(start_server, certs):
    srv = start_server(["--certfile", certs.certfile, "--keyfile", certs.keyfile])
    # warm up (imports, TLS, first request) before measuring idle RSS
    r = curl(["-k", "--http2", srv.url_for("/download?n=200000"), "-o", "/dev/null"])
    assert r.status == 200
    r = curl(["-k", "--http1.1", "--data-binary", "x" * 1000, srv.url_for("/sha256")])
    assert r.status == 200
    srv.reset_peak_rss()
    return srv


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.mark.parametrize("proto", ["2", "1.1"])
def test_download_64mib(tls_server, tmp_path, proto):
    idle = tls_server.rss()
    out = tmp_path / "dl.bin"
    r = curl(["-k", "--http%s" % proto, "-o", str(out),
              tls_server.url_for("/download?n=%d" % SIZE)], timeout=100)
    assert r.status == 200
    assert r.http_version == proto
    assert r.size_download == SIZE
    assert out.stat().st_size == SIZE
    assert _file_sha256(out) == download_sha256(SIZE)
    growth = tls_server.peak_rss() - idle
    assert growth < MAX_GROWTH, "server RSS grew by %.1f MiB during a 64 MiB download" % (growth / MIB)


@pytest.mark.parametrize("proto", ["2", "1.1"])
def test_upload_64mib(tls_server, upload_file, proto):
    path, digest = upload_file
    idle = tls_server.rss()
    r = curl(["-k", "--http%s" % proto, "--data-binary", "@%s" % path,
              "-H", "Content-Type: application/octet-stream",
              tls_server.url_for("/sha256")], timeout=100)
    assert r.status == 200
    assert r.http_version == proto
    assert json.loads(r.body) == {"sha256": digest, "bytes": SIZE}
    growth = tls_server.peak_rss() - idle
    assert growth < MAX_GROWTH, "server RSS grew by %.1f MiB during a 64 MiB upload" % (growth / MIB)


def test_download_without_content_length_h1_chunked(tls_server, tmp_path):
    out = tmp_path / "dl.bin"
    n = 8 * MIB + 123
    r = curl(["-k", "--http1.1", "-o", str(out), "-D", str(tmp_path / "hdr"),
              tls_server.url_for("/download?nolen=1&n=%d" % n)], timeout=60)
    assert r.status == 200
    assert "transfer-encoding: chunked" in (tmp_path / "hdr").read_text().lower()
    assert _file_sha256(out) == download_sha256(n)
