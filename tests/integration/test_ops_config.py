"""--check-config and --print-config (standalone), and gunicorn's --check-config with the
greenh2 worker class."""
import subprocess
import sys

import pytest
from support.server import run_cli, subprocess_env

pytestmark = pytest.mark.timeout(60)


def one_line(res):
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_check_config_good(tmp_path, certs):
    cfg = tmp_path / "good.toml"
    cfg.write_text('bind = ["127.0.0.1:0"]\nkeepalive = 5\ncertfile = "%s"\nkeyfile = "%s"\n'
                   % (certs.certfile, certs.keyfile))
    res = run_cli(["-c", str(cfg), "--check-config", "apps:app"], timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith("greenh2: config OK") and "apps:app" in res.stdout


@pytest.mark.parametrize("content, expect", [
    ("no_such_key = 1\n", "no_such_key"),
    ("keepalive = \"soon\"\n", "keepalive"),
    ("max_frame_size = 12\n", "max_frame_size"),
])
def test_check_config_bad_file(tmp_path, content, expect):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    res = run_cli(["-c", str(cfg), "--check-config", "apps:app"])
    assert res.returncode == 2
    assert expect in one_line(res)


def test_check_config_bad_env():
    res = run_cli(["--check-config", "apps:app"], env={"GREENH2_KEEPALIV": "3"})
    assert res.returncode == 2 and "GREENH2_KEEPALIV" in one_line(res)


@pytest.mark.parametrize("app, expect", [("no_such_mod_xyz:app", "no_such_mod_xyz"),
                                         ("apps:no_such_attr", "no_such_attr")])
def test_check_config_unimportable_app(app, expect):
    res = run_cli(["--check-config", app], timeout=30)
    assert res.returncode == 2 and expect in one_line(res)


def test_check_config_missing_cert(tmp_path):
    res = run_cli(["--check-config", "--certfile", str(tmp_path / "nope.crt"),
                   "--keyfile", str(tmp_path / "nope.key"), "apps:app"], timeout=30)
    assert res.returncode == 2 and "nope.crt" in one_line(res)


def test_check_config_does_not_bind(tmp_path):
    # nothing listens afterwards and nothing was served: the check exits by itself
    res = run_cli(["--check-config", "-b", "127.0.0.1:1", "apps:app"], timeout=30)
    assert res.returncode == 0, res.stderr


def test_print_config_round_trips_and_shows_sources(tmp_path):
    cfg = tmp_path / "in.toml"
    cfg.write_text('keepalive = 7\nserver_header = "x \\"q\\" é"\n')
    env = {"GREENH2_MAX_CONCURRENT_STREAMS": "50"}
    res = run_cli(["-c", str(cfg), "--print-config", "-w", "3", "-b", "127.0.0.1:0",
                   "-b", "[::1]:0", "apps:app"], env=env)
    assert res.returncode == 0, res.stderr
    lines = {line.split(" = ")[0]: line for line in res.stdout.splitlines() if " = " in line}
    assert lines["keepalive"].endswith("# file %s" % cfg), lines["keepalive"]
    assert lines["max_concurrent_streams"].startswith("max_concurrent_streams = 50")
    assert lines["max_concurrent_streams"].endswith("# env GREENH2_MAX_CONCURRENT_STREAMS")
    assert lines["workers"] == "workers = 3  # CLI"
    assert lines["app"] == 'app = "apps:app"  # CLI'
    assert lines["graceful_timeout"].endswith("# default")
    printed = tmp_path / "printed.toml"
    printed.write_text(res.stdout)
    # valid TOML that -c reads back to the same settings (no env, no flags this time)
    again = run_cli(["-c", str(printed), "--print-config"])
    assert again.returncode == 0, again.stderr

    def values(text):
        return [line.split("  # ")[0] for line in text.splitlines() if " = " in line]
    assert values(again.stdout) == values(res.stdout)
    from greenh2.config import read_toml
    data = read_toml(str(printed))
    assert data["bind"] == ["127.0.0.1:0", "[::1]:0"] and data["server_header"] == 'x "q" é'


def test_gunicorn_check_config_with_greenh2_worker(tmp_path):
    from support import TESTS_DIR
    cmd = [sys.executable, "-m", "gunicorn", "-k", "greenh2.worker", "--check-config", "apps:app"]
    res = subprocess.run(cmd, cwd=TESTS_DIR, env=subprocess_env(), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    bad = subprocess.run(cmd[:-1] + ["no_such_mod_xyz:app"], cwd=TESTS_DIR, env=subprocess_env(),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no_such_mod_xyz" in bad.stdout + bad.stderr
