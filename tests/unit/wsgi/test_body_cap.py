"""max_body_size in the shared layers: the setting, the exception (with and without werkzeug
loaded), the dispatcher's 413 before the app, and run_app's 413 / abort for an uncaught read."""
import sys

import pytest

from greenh2.config import Config
from greenh2.errors import ConfigError, GreenH2Error, RequestBodyTooLarge, body_too_large
from greenh2.wsgi.dispatch import Dispatcher, _known_length
from greenh2.wsgi.environ import ConnInfo, RequestHead
from greenh2.wsgi.response import run_app


def test_setting_default_env_and_file(tmp_path):
    assert Config().max_body_size == 0
    assert Config.load(environ={"GREENH2_MAX_BODY_SIZE": "1048576"}).max_body_size == 1 << 20
    path = tmp_path / "g.toml"
    path.write_text("max_body_size = 2048\n")
    assert Config.load(environ={}, config_file=str(path)).max_body_size == 2048
    with pytest.raises(ConfigError):
        Config(max_body_size=-1)


def test_gunicorn_worker_takes_the_environment_variable(monkeypatch):
    pytest.importorskip("gunicorn")
    from gunicorn.config import Config as GConfig

    from gunicorn_worker.settings import config_from_gunicorn
    monkeypatch.setenv("GREENH2_MAX_BODY_SIZE", "4096")
    monkeypatch.setattr(sys, "argv", ["gunicorn"])
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    config, _ = config_from_gunicorn(GConfig(), "app:app")
    assert config.max_body_size == 4096


def test_exception_without_werkzeug(monkeypatch):
    monkeypatch.delitem(sys.modules, "werkzeug.exceptions", raising=False)
    exc = body_too_large(10)
    assert type(exc) is RequestBodyTooLarge and isinstance(exc, GreenH2Error)
    assert (exc.status, exc.limit) == (413, 10) and "10 bytes" in str(exc)


def test_exception_is_werkzeugs_413_when_werkzeug_is_loaded():
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
    exc = body_too_large(10)
    assert isinstance(exc, RequestBodyTooLarge) and isinstance(exc, RequestEntityTooLarge)
    assert isinstance(exc, HTTPException) and exc.code == 413 and exc.status == 413
    assert type(body_too_large(5)) is type(exc)  # one class, made once


def test_known_length():
    assert _known_length(RequestHead("POST", "/", "HTTP/2.0", [("content-length", "12")])) == 12
    assert _known_length(RequestHead("POST", "/", "HTTP/2.0", [], body_length=7)) == 7
    assert _known_length(RequestHead("POST", "/", "HTTP/1.1", [])) == 0  # streaming: unknown


class Sink:
    def __init__(self):
        self.calls = []

    def informational(self, status, headers):
        self.calls.append(("informational", status))

    def start(self, status, reason, headers, end):
        self.calls.append(("start", status, end))

    def write(self, data, end=False):
        self.calls.append(("write", bytes(data), end))

    def finish(self):
        self.calls.append(("finish",))

    def trailers(self, headers):
        self.calls.append(("trailers",))

    def abort(self):
        self.calls.append(("abort",))


CONN = ConnInfo("localhost", "80", "127.0.0.1", "5000", "http")


def test_dispatcher_answers_413_without_calling_the_app():
    called = []

    def app(environ, start_response):
        called.append(1)
        start_response("200 OK", [])
        return [b""]
    sink = Sink()
    head = RequestHead("POST", "/", "HTTP/2.0", [("content-length", "1001")])
    Dispatcher(app, Config(max_body_size=1000))(head, CONN, lambda n: b"", sink)
    assert not called
    assert sink.calls[0] == ("start", 413, False)
    assert sink.calls[1] == ("write", b"Content Too Large\n", True)
    sink = Sink()
    head = RequestHead("POST", "/", "HTTP/2.0", [("content-length", "1000")])
    Dispatcher(app, Config(max_body_size=1000))(head, CONN, lambda n: b"", sink)
    assert called


def _environ(pull):
    from greenh2.wsgi.environ import build_environ
    from greenh2.wsgi.input_stream import InputStream
    return build_environ(RequestHead("POST", "/", "HTTP/1.1", []), CONN, InputStream(pull))


def _raising(size):
    raise RequestBodyTooLarge(10)


def test_uncaught_limit_before_the_response_is_a_413():
    def app(environ, start_response):
        environ["wsgi.input"].read()
    sink = Sink()
    resp = run_app(app, _environ(_raising), sink, "")
    assert resp.status == 413 and sink.calls[0] == ("start", 413, False)


def test_uncaught_limit_after_the_response_started_aborts():
    def app(environ, start_response):
        start_response("200 OK", [])
        yield b"first"
        environ["wsgi.input"].read()
    sink = Sink()
    run_app(app, _environ(_raising), sink, "")
    assert sink.calls[-1] == ("abort",) and ("start", 200, False) in sink.calls
