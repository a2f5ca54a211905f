"""Units of the operations layer: TOML rendering, PID file rules, control dispatch, scoreboard,
and the listener adoption rules of a reload's successor."""
import json
import os
import socket
import subprocess
import sys

import pytest

from greenh2.config import Config, read_toml
from greenh2.errors import ConfigError
from greenh2.ops import configdump, control, pidfile
from greenh2.ops.scoreboard import Scoreboard
from greenh2.server.handover import Inherited


def test_toml_values_round_trip(tmp_path):
    cfg = Config(server_header='a "b" \\ \u00e9 \t', bind=("127.0.0.1:0", "[::1]:0"), keepalive=2.5)
    text = configdump.to_toml(cfg, {"keepalive": "CLI"})
    (tmp_path / "c.toml").write_text(text)
    data = read_toml(str(tmp_path / "c.toml"))
    assert data["server_header"] == cfg.server_header and data["bind"] == list(cfg.bind)
    assert data["keepalive"] == 2.5 and "keepalive = 2.5  # CLI" in text
    assert Config.load(environ={}, config_file=str(tmp_path / "c.toml")) == cfg


def test_sources_precedence(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("keepalive = 3\nthreads = 2\n")
    got = configdump.sources({"threads": 4}, {"GREENH2_KEEPALIVE": "9"}, str(f))
    assert got["keepalive"] == "env GREENH2_KEEPALIVE" and got["threads"] == "CLI"
    assert got["workers"] == "default"


def test_pidfile_rules(tmp_path):
    path = str(tmp_path / "x.pid")
    pidfile.check_pidfile(path)  # no file: fine
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    open(path, "w").write("%d\n" % dead.pid)
    pidfile.check_pidfile(path)  # stale: fine
    open(path, "w").write("%d\n" % os.getppid())  # a live process that is not us
    with pytest.raises(ConfigError, match="running"):
        pidfile.check_pidfile(path)
    pidfile.check_pidfile(path, successor_of=os.getppid())  # a reload's predecessor: ours
    pidfile.remove_pidfile(path)
    assert os.path.exists(path)  # not our pid: left alone
    pidfile.write_pidfile(path)
    assert pidfile.read_pid(path) == os.getpid()
    pidfile.remove_pidfile(path)
    assert not os.path.exists(path)


class Target:
    def status(self):
        return {"pid": 1}

    def stats(self):
        return {}

    def reload(self, what):
        return {"what": what}

    def reopen(self):
        return {}

    def stop(self):
        return {}

    def workers(self, delta):
        if delta < -5:
            raise ValueError("too few")
        return {"delta": delta}


@pytest.mark.parametrize("request_, ok, data", [
    ({"command": "status"}, True, {"pid": 1}),
    ({"command": "reload", "args": ["tls"]}, True, {"what": "tls"}),
    ({"command": "reload"}, True, {"what": "all"}),
    ({"command": "workers", "args": ["+3"]}, True, {"delta": 3}),
    ({"command": "workers", "args": ["-2"]}, True, {"delta": -2}),
    ({"command": "workers", "args": ["-9"]}, False, None),
    ({"command": "workers", "args": ["3"]}, False, None),
    ({"command": "status", "args": ["x"]}, False, None),
    ({"command": "nope"}, False, None),
    (["status"], False, None),
])
def test_dispatch(request_, ok, data):
    answer = control.dispatch(Target(), request_)
    assert answer["ok"] is ok
    if ok:
        assert answer["data"] == data
    else:
        assert answer["error"]
    assert json.loads(control.answer_line(Target(), b"garbage"))["ok"] is False


def test_control_socket_mode_and_live_guard(tmp_path):
    path = str(tmp_path / "sub" / "c.ctl")
    sock = control.bind_control(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    with pytest.raises(control.ControlInUse):
        control.bind_control(path)  # someone answers there
    sock.close()
    control.bind_control(path).close()  # stale file: replaced


def test_resolve_path(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert control.resolve_path("") == str(tmp_path / "greenh2.ctl")
    assert control.resolve_path("off") == ""
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert control.resolve_path("").endswith(os.path.join(".greenh2", "greenh2.ctl"))


def test_scoreboard_slots():
    board = Scoreboard(4)
    board.write(2, 77, 3, 5, 9)
    assert board.read(2) == {"pid": 77, "connections": 3, "streams": 5, "requests": 9}
    assert board.free_slot({0, 1}) == 2
    board.clear(2)
    assert board.read(2)["pid"] == 0
    with pytest.raises(ValueError):
        board.free_slot({0, 1, 2, 3})


def _listening_socket():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_successor_adopts_by_bind_text_and_by_position():
    a, b = _listening_socket(), _listening_socket()
    keyed = Inherited({"127.0.0.1:0": os.dup(a.fileno()), "gone:1": os.dup(b.fileno())})
    got = keyed.listeners(("127.0.0.1:0",))
    assert [s.getsockname() for s in got] == [a.getsockname()]
    positional = Inherited({"#1": os.dup(b.fileno()), "#0": os.dup(a.fileno())})
    got2 = positional.listeners(("127.0.0.1:9",))  # --bind ignored: sockets in order
    assert [s.getsockname() for s in got2] == [a.getsockname(), b.getsockname()]
    for s in (a, b, *got, *got2):
        s.close()
