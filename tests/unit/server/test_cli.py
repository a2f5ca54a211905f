"""greenh2.server.cli.build_parser: the flags are generated from the Config fields."""
import argparse

import pytest

from greenh2.config import FIELDS, Config
from greenh2.server.cli import build_parser, parse_config


def option_strings(parser):
    return {s for action in parser._actions for s in action.option_strings}


def action_for(parser, dest):
    return next(a for a in parser._actions if a.dest == dest)


@pytest.fixture
def clean_env(monkeypatch):
    import os
    for key in list(os.environ):
        if key.startswith("GREENH2_"):
            monkeypatch.delenv(key)


def test_every_cli_field_has_a_flag():
    parser = build_parser()
    flags = option_strings(parser)
    for name, f in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if f.metadata["cli"]:
            assert flag in flags, name
            if f.metadata["short"]:
                assert f.metadata["short"] in flags, name
        else:
            assert flag not in flags, name


def test_no_flags_means_no_overrides():
    args = vars(build_parser().parse_args([]))
    assert {k: v for k, v in args.items() if k != "config_file"} == {}


@pytest.mark.parametrize("name", [n for n, f in FIELDS.items()
                                  if f.type == "bool" and f.metadata["cli"]])
def test_bool_fields_accept_x_and_no_x(name):
    parser = build_parser()
    flag = name.replace("_", "-")
    assert getattr(parser.parse_args([f"--{flag}"]), name) is True
    assert getattr(parser.parse_args([f"--no-{flag}"]), name) is False


def test_bind_is_repeatable():
    args = build_parser().parse_args(["--bind", "127.0.0.1:1", "-b", "[::1]:2", "-b", "unix:/s"])
    assert args.bind == ["127.0.0.1:1", "[::1]:2", "unix:/s"]


def test_typed_flags_and_choices():
    parser = build_parser()
    args = parser.parse_args(["--workers", "3", "--keepalive", "2.5", "--log-level", "debug",
                              "-w", "4", "myapp:app"])
    assert args.workers == 4 and args.keepalive == 2.5 and args.log_level == "debug"
    assert args.app == "myapp:app"
    for bad in (["--workers", "x"], ["--log-level", "loud"], ["--keepalive", "soon"],
                ["--cert-reqs", "maybe"], ["--no-such-flag"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_every_cli_field_round_trips_through_parse_config(clean_env):
    """Each flag lands on its own field, with the field's type."""
    values = {"bind": ["127.0.0.1:1"], "certfile": None, "keyfile": None, "ca_certs": "/ca.pem",
              "cert_reqs": "optional", "ciphers": "ECDHE+AESGCM", "tls_min_version": "1.3",
              "http_protocols": "h2", "threads": 2, "workers": 2, "worker_connections": 50,
              "max_concurrent_streams": 10, "initial_window_size": 70000,
              "connection_window_size": 100000, "max_frame_size": 20000,
              "max_header_list_size": 4096, "header_table_size": 0, "graceful_timeout": 1.5,
              "keepalive": 2.5, "handshake_timeout": 3.5, "body_timeout": 4.5,
              "send_timeout": 5.5, "limit_request_line": 1000, "limit_request_fields": 10,
              "limit_request_field_size": 1000, "max_requests": 5, "max_requests_jitter": 2,
              "log_level": "error", "access_log": "-", "access_log_format": "%(h)s",
              "error_log": "/tmp/e.log", "forwarded_allow_ips": "*",
              "secure_scheme_headers": ["X-A=1", "X-B=2"], "chdir": "/tmp", "server_header": ""}
    argv = []
    for name, f in FIELDS.items():
        if not f.metadata["cli"] or f.type == "bool" or values.get(name) is None:
            continue
        value = values[name]
        for item in (value if isinstance(value, list) else [value]):
            argv += ["--" + name.replace("_", "-"), str(item)]
    argv += ["--self-signed", "--no-h2c-upgrade", "--no-monkey-patch"]
    cfg = parse_config(argv)
    for name, value in values.items():
        if value is None:
            continue
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(cfg, name) == expected, name
    assert cfg.self_signed is True and cfg.h2c_upgrade is False and cfg.monkey_patch is False


def test_parse_config_types_match_env_and_file(clean_env):
    """The command line gives the same Config as the environment would (tuples stay tuples)."""
    from_cli = parse_config(["-b", "127.0.0.1:1", "-b", "[::1]:2"])
    from_env = Config.load({}, {"GREENH2_BIND": "127.0.0.1:1,[::1]:2"})
    assert isinstance(from_cli.bind, tuple)
    assert from_cli == from_env
    hash(from_cli)  # a frozen Config is hashable when its fields have their declared types


def test_parse_config_reads_config_file(tmp_path, clean_env):
    path = tmp_path / "c.toml"
    path.write_text("workers = 3\nkeepalive = 9\n")
    cfg = parse_config(["-c", str(path), "--keepalive", "1"])
    assert cfg.workers == 3 and cfg.keepalive == 1.0


def test_help_mentions_defaults():
    text = build_parser().format_help()
    assert "--max-concurrent-streams" in text and "--no-h2c-upgrade" in text
    assert isinstance(action_for(build_parser(), "h2c_upgrade"), argparse.BooleanOptionalAction)


def test_gunicorn_spellings_of_log_and_keepalive_flags_carry_over(clean_env):
    # a gunicorn command line's flags mean the same here (README: Coming from gunicorn)
    config = parse_config(["--access-logfile", "-", "--access-logformat", "%(h)s %(r)s",
                           "--error-logfile", "/tmp/e.log", "--keep-alive", "5", "app:app"])
    assert (config.access_log, config.access_log_format, config.error_log, config.keepalive) == \
        ("-", "%(h)s %(r)s", "/tmp/e.log", 5.0)
    assert parse_config(["--log-file", "/tmp/l.log", "app:app"]).error_log == "/tmp/l.log"
    assert parse_config(["--access-log", "a.log", "app:app"]).access_log == "a.log"  # our own


def test_gunicorn_spellings_are_listed_in_help(capsys, clean_env):
    with pytest.raises(SystemExit):
        parse_config(["--help"])
    out = capsys.readouterr().out
    assert "--access-log ACCESS_LOG, --access-logfile ACCESS_LOG" in out
    assert "--keep-alive" in out and "--error-logfile" in out
