"""greenh2.config (schema, loading, validation) and greenh2.server.binds.parse_bind."""
import dataclasses
import socket

import pytest

from greenh2.config import FIELDS, Config, coerce
from greenh2.errors import ConfigError
from greenh2.server.binds import BindAddress, parse_bind


def write(tmp_path, text, name="greenh2.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- defaults -----------------------------------------------------------------------------------

def test_defaults_are_valid():
    cfg = Config()
    assert cfg.bind == ("127.0.0.1:8000",)
    assert cfg.protocols == ("h2", "h1")
    assert not cfg.tls_enabled
    assert 16384 <= cfg.max_frame_size <= 16777215
    assert cfg.connection_window_size >= 65535


def test_load_with_nothing_gives_defaults():
    assert Config.load({}, {}) == Config()


def test_every_field_has_help_and_a_default():
    for name, f in FIELDS.items():
        assert f.metadata["help"], name
        assert f.default is not dataclasses.MISSING, name


def test_config_is_frozen_and_replace_validates():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.workers = 3
    assert cfg.replace(workers=3).workers == 3
    with pytest.raises(ConfigError):
        cfg.replace(workers=0)


# --- precedence ---------------------------------------------------------------------------------

def test_precedence_file_env_cli(tmp_path):
    path = write(tmp_path, 'workers = 2\nkeepalive = 5.0\nlog_level = "debug"\n'
                           'bind = ["127.0.0.1:1", "127.0.0.1:2"]\nthreads = 1\n')
    env = {"GREENH2_WORKERS": "3", "GREENH2_KEEPALIVE": "6", "GREENH2_THREADS": "4",
           "PATH": "/usr/bin", "GREENH2X": "not ours"}
    cfg = Config.load({"workers": 4}, env, path)
    assert cfg.workers == 4  # cli beats env beats file
    assert cfg.keepalive == 6.0  # env beats file
    assert cfg.threads == 4
    assert cfg.log_level == "debug"  # file beats default
    assert cfg.bind == ("127.0.0.1:1", "127.0.0.1:2")


def test_config_file_from_environment(tmp_path):
    path = write(tmp_path, "workers = 7\n")
    cfg = Config.load({}, {"GREENH2_CONFIG": path})
    assert cfg.workers == 7


def test_explicit_config_file_beats_environment_path(tmp_path):
    a = write(tmp_path, "workers = 7\n", "a.toml")
    b = write(tmp_path, "workers = 8\n", "b.toml")
    assert Config.load({}, {"GREENH2_CONFIG": a}, b).workers == 8


def test_greenh2_table_in_file(tmp_path):
    path = write(tmp_path, "[greenh2]\nworkers = 3\nself-signed = true\n")
    cfg = Config.load({}, {}, path)
    assert cfg.workers == 3 and cfg.self_signed


def test_env_values_are_coerced():
    env = {"GREENH2_H2C_UPGRADE": "off", "GREENH2_SELF_SIGNED": "yes",
           "GREENH2_GRACEFUL_TIMEOUT": "2.5", "GREENH2_BIND": "127.0.0.1:1, [::1]:2",
           "GREENH2_MAX_FRAME_SIZE": "65536"}
    cfg = Config.load({}, env)
    assert cfg.h2c_upgrade is False and cfg.self_signed is True
    assert cfg.graceful_timeout == 2.5
    assert cfg.bind == ("127.0.0.1:1", "[::1]:2")
    assert cfg.max_frame_size == 65536


# --- errors -------------------------------------------------------------------------------------

def test_unknown_key_in_file_is_named(tmp_path):
    path = write(tmp_path, "workers = 2\nworkerz = 3\n")
    with pytest.raises(ConfigError, match="workerz"):
        Config.load({}, {}, path)


def test_unknown_env_var_is_named():
    with pytest.raises(ConfigError, match="GREENH2_WORKRS"):
        Config.load({}, {"GREENH2_WORKRS": "2"})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Config.load({}, {}, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="TOML"):
        Config.load({}, {}, write(tmp_path, "workers = = 2\n"))


@pytest.mark.parametrize("toml", [
    'workers = "many"',
    "workers = true",
    "workers = 2.5",  # an integer setting must not silently truncate a float
    'keepalive = "soon"',
    "keepalive = true",  # a bool is not a number of seconds
    "h2c_upgrade = \"perhaps\"",
    "h2c_upgrade = 2",
    "certfile = 5",
    "log_level = 3",
    "bind = 5",
])
def test_bad_types_in_file(tmp_path, toml):
    with pytest.raises(ConfigError):
        Config.load({}, {}, write(tmp_path, toml + "\n"))


@pytest.mark.parametrize("name,value", [
    ("GREENH2_WORKERS", "two"), ("GREENH2_WORKERS", "2.5"), ("GREENH2_KEEPALIVE", "x"),
    ("GREENH2_SELF_SIGNED", "maybe"), ("GREENH2_MAX_FRAME_SIZE", ""),
])
def test_bad_types_in_environment(name, value):
    with pytest.raises(ConfigError, match=name[len("GREENH2_"):].lower()):
        Config.load({}, {name: value})


@pytest.mark.parametrize("changes", [
    {"workers": 0}, {"workers": 2000}, {"threads": -1},
    {"max_frame_size": 16383}, {"max_frame_size": 16777216},
    {"connection_window_size": 65534}, {"connection_window_size": 2**31},
    {"initial_window_size": 0}, {"initial_window_size": 2**31},
    {"max_concurrent_streams": 0}, {"max_header_list_size": 10},
    {"handshake_timeout": 0}, {"graceful_timeout": -1}, {"keepalive": float("nan")},
    {"limit_request_line": 10}, {"limit_request_fields": 0},
    {"cert_reqs": "sometimes"}, {"log_level": "loud"}, {"tls_min_version": "1.1"},
    {"http_protocols": "h3"}, {"http_protocols": ""}, {"http_protocols": "h2,spdy"},
    {"bind": ()}, {"bind": ("nonsense",)},
    {"certfile": "/x/cert.pem"}, {"keyfile": "/x/key.pem"},
    {"certfile": "/x/c.pem", "keyfile": "/x/k.pem", "self_signed": True},
])
def test_invalid_values(changes):
    with pytest.raises(ConfigError):
        Config(**changes)


def test_out_of_range_via_environment_names_setting():
    with pytest.raises(ConfigError, match="max_frame_size"):
        Config.load({}, {"GREENH2_MAX_FRAME_SIZE": "100"})


def test_certfile_without_keyfile_via_load():
    with pytest.raises(ConfigError, match="keyfile"):
        Config.load({"certfile": "/etc/cert.pem"}, {})


def test_cert_and_key_together_enable_tls():
    cfg = Config(certfile="/x/c.pem", keyfile="/x/k.pem")
    assert cfg.tls_enabled
    assert Config(self_signed=True).tls_enabled


def test_wrong_type_from_programmatic_caller_is_config_error():
    with pytest.raises(ConfigError):
        Config.load({"workers": "3"}, {})


@pytest.mark.parametrize("name,raw,value", [
    ("workers", "3", 3), ("workers", 3, 3), ("keepalive", "1.5", 1.5), ("keepalive", 2, 2.0),
    ("self_signed", "TRUE", True), ("self_signed", "0", False), ("self_signed", False, False),
    ("bind", "a:1,b:2", ("a:1", "b:2")), ("bind", ["a:1"], ("a:1",)),
    ("certfile", "/c.pem", "/c.pem"),
])
def test_coerce(name, raw, value):
    got = coerce(name, raw)
    assert got == value and type(got) is type(value)


def test_protocols_property():
    assert Config(http_protocols=" h2 , h1 ").protocols == ("h2", "h1")
    assert Config(http_protocols="h1").protocols == ("h1",)


# --- bind addresses -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("127.0.0.1:80", BindAddress(socket.AF_INET, host="127.0.0.1", port=80)),
    ("0.0.0.0:0", BindAddress(socket.AF_INET, host="0.0.0.0", port=0)),
    ("localhost:8000", BindAddress(socket.AF_INET, host="localhost", port=8000)),
    (":8000", BindAddress(socket.AF_INET, host="0.0.0.0", port=8000)),
    ("[::1]:8443", BindAddress(socket.AF_INET6, host="::1", port=8443)),
    ("[::]:65535", BindAddress(socket.AF_INET6, host="::", port=65535)),
    ("[fe80::1%eth0]:80", BindAddress(socket.AF_INET6, host="fe80::1%eth0", port=80)),
    ("unix:/tmp/x.sock", BindAddress(socket.AF_UNIX, path="/tmp/x.sock")),
    ("  127.0.0.1:80  ", BindAddress(socket.AF_INET, host="127.0.0.1", port=80)),
    ("fd://3", BindAddress(socket.AF_INET, fd=3)),
])
def test_parse_bind(text, expected):
    assert parse_bind(text) == expected


@pytest.mark.parametrize("text", [
    "nonsense", "1.2.3.4:99999", ":", "::1:80", "", "unix:", "1.2.3.4:", "1.2.3.4:-1",
    "1.2.3.4:8o", "[::1]", "[::1]80", "::1", "fd://", "fd://x", "1.2.3.4: 80",
    "1.2.3.4:\u00b2",  # a Unicode digit that int() refuses: still a ConfigError
])
def test_parse_bind_rejects(text):
    with pytest.raises(ConfigError, match="bad bind address"):
        parse_bind(text)


def test_bind_url():
    assert parse_bind("127.0.0.1:80").url(False) == "http://127.0.0.1:80"
    assert parse_bind("[::1]:443").url(True) == "https://[::1]:443"
    assert parse_bind("unix:/run/g.sock").url(True) == "unix:/run/g.sock"
