"""Command-line behaviour: errors, --version, demo app, --self-signed, config precedence."""
import re
import socket

import pytest
from support.certs import make_unrelated_key
from support.h2raw import H2Client
from support.server import run_cli
from support.tools import curl

pytestmark = pytest.mark.timeout(30)

EPHEMERAL = ["-b", "127.0.0.1:0"]


def assert_clean_failure(res):
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert res.returncode != 0, "expected a non-zero exit; stderr:\n" + res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    assert len(lines) == 1, "expected exactly one line on stderr, got %d:\n%s" % (len(lines), res.stderr)
    return lines[0]


def test_unknown_module():
    line = assert_clean_failure(run_cli(EPHEMERAL + ["no_such_module_xyz:app"]))
    assert "no_such_module_xyz" in line


def test_unknown_attribute():
    line = assert_clean_failure(run_cli(EPHEMERAL + ["apps:no_such_attr"]))
    assert "no_such_attr" in line


def test_not_callable():
    line = assert_clean_failure(run_cli(EPHEMERAL + ["apps:not_callable"]))
    assert "not_callable" in line or "callable" in line


def test_empty_module_name():
    assert_clean_failure(run_cli(EPHEMERAL + [":app"]))


def test_app_module_import_error(tmp_path):
    (tmp_path / "broken_app_mod.py").write_text("raise ValueError('broken at import')\n")
    line = assert_clean_failure(run_cli(EPHEMERAL + ["broken_app_mod:app"],
                                        env={"PYTHONPATH": str(tmp_path)}))
    assert "broken_app_mod" in line


@pytest.mark.parametrize("bind", ["nonsense", "127.0.0.1:notaport", "127.0.0.1:99999", "[::1"])
def test_bad_bind(bind):
    line = assert_clean_failure(run_cli(["-b", bind, "apps:app"]))
    assert bind in line or "bind" in line.lower(), line


def test_port_in_use():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        line = assert_clean_failure(run_cli(["-b", "127.0.0.1:%d" % port, "apps:app"]))
        assert str(port) in line, line
    finally:
        s.close()


def test_missing_certfile(tmp_path):
    missing = str(tmp_path / "missing.crt")
    line = assert_clean_failure(run_cli(EPHEMERAL + ["--certfile", missing, "--keyfile",
                                                     str(tmp_path / "missing.key"), "apps:app"]))
    assert "missing" in line


def test_cert_key_mismatch(certs, tmp_path):
    other = make_unrelated_key(str(tmp_path))
    assert_clean_failure(run_cli(EPHEMERAL + ["--certfile", certs.certfile, "--keyfile", other,
                                              "apps:app"]))


def test_unknown_config_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("not_a_setting = 1\n")
    line = assert_clean_failure(run_cli(EPHEMERAL + ["-c", str(cfg), "apps:app"]))
    assert "not_a_setting" in line


def test_invalid_config_toml(tmp_path):
    cfg = tmp_path / "broken.toml"
    cfg.write_text("max_concurrent_streams = = 3\n")
    assert_clean_failure(run_cli(EPHEMERAL + ["-c", str(cfg), "apps:app"]))


def test_unknown_env_setting():
    line = assert_clean_failure(run_cli(EPHEMERAL + ["apps:app"], env={"GREENH2_NOT_A_SETTING": "1"}))
    assert "NOT_A_SETTING" in line.upper()


def test_bad_env_value():
    assert_clean_failure(run_cli(EPHEMERAL + ["apps:app"],
                                 env={"GREENH2_MAX_CONCURRENT_STREAMS": "lots"}))


def test_version():
    res = run_cli(["--version"])
    assert res.returncode == 0, res.stderr
    assert re.search(r"\d+\.\d+", res.stdout + res.stderr), (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr


def test_demo_app_over_h2c(start_server):
    srv = start_server([], app=None)
    r = curl(["--http2-prior-knowledge", srv.url_for("/")])
    assert r.status == 200
    assert r.http_version == "2"
    assert r.body, "demo app returned an empty body"


def test_self_signed(start_server):
    srv = start_server(["--self-signed"])
    assert srv.url.startswith("https://"), srv.url
    r = curl(["-k", "--http2", srv.url_for("/hello")])
    assert (r.status, r.http_version, r.body) == (200, "2", "Hello, world!\n")


def _mcs(srv):
    with H2Client("127.0.0.1", srv.port) as c:
        return c.remote_settings.max_concurrent_streams


@pytest.mark.timeout(60)
def test_config_precedence(start_server, tmp_path):
    cfg = tmp_path / "greenh2.toml"
    cfg.write_text("max_concurrent_streams = 50\n")
    env = {"GREENH2_MAX_CONCURRENT_STREAMS": "60"}
    assert _mcs(start_server(["-c", str(cfg)])) == 50
    assert _mcs(start_server(["-c", str(cfg)], env=env)) == 60
    assert _mcs(start_server(["-c", str(cfg), "--max-concurrent-streams", "70"], env=env)) == 70
    assert _mcs(start_server([], env=env)) == 60
