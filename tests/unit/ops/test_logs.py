"""JSON log formatting and reopen() (logrotate) without a server: the error log's file handler
and a registered access log both move to a new file at the configured path."""
import json
import logging
import os

from greenh2.config import Config
from greenh2.ops import logs
from greenh2.wsgi.response import Response


class _Sink:
    pass


def _response(status, sent):
    resp = Response(_Sink(), "GET", "")
    resp.status, resp.bytes_sent = status, sent
    return resp


def test_json_formatter_fields_and_exception():
    fmt = logs.JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        record = logging.LogRecord("greenh2", logging.ERROR, __file__, 1, "failed %s", ("x",),
                                   sys.exc_info())
    entry = json.loads(fmt.format(record))
    assert entry["level"] == "error" and entry["message"] == "failed x"
    assert entry["pid"] == os.getpid() and "ValueError: boom" in entry["exception"]
    assert "T" in entry["timestamp"]


def test_json_access_line_without_optional_headers(tmp_path):
    log = logs.JsonAccessLog(str(tmp_path / "a.log"), "")
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/p", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "::1", "greenh2.stream_id": 0}
    entry = json.loads(log.line(environ, _response(404, 9), 0.25))
    assert entry["status"] == 404 and entry["bytes"] == 9 and entry["duration"] == 0.25
    assert entry["stream_id"] is None and entry["user_agent"] is None
    assert "request_id" not in entry


def test_reopen_moves_error_and_access_logs_to_new_files(tmp_path):
    error_path, access_path = str(tmp_path / "error.log"), str(tmp_path / "access.log")
    config = Config(error_log=error_path, access_log=access_path, log_format="json")
    saved = list(logs.log.handlers), logs.log.level, logs.log.propagate
    try:
        logs.setup_logging(config)
        access = logs.access_log(config)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_PROTOCOL": "HTTP/2.0"}
        logs.log.warning("before")
        access.log(environ, _response(200, 1), 0.0)
        os.rename(error_path, error_path + ".1")
        os.rename(access_path, access_path + ".1")
        logs.reopen()
        logs.log.warning("after")
        access.log(environ, _response(201, 1), 0.0)
        for handler in logs.log.handlers:
            handler.flush()
    finally:
        for handler in logs.log.handlers:
            handler.close()
        logs.log.handlers[:], logs.log.level, logs.log.propagate = saved
        access.stream.close()
    old_errors = [json.loads(ln)["message"] for ln in open(error_path + ".1")]
    new_errors = [json.loads(ln)["message"] for ln in open(error_path)]
    assert old_errors == ["before"]
    assert new_errors[-1] == "after" and "log files reopened" in new_errors
    assert [json.loads(ln)["status"] for ln in open(access_path + ".1")] == [200]
    assert [json.loads(ln)["status"] for ln in open(access_path)] == [201]
