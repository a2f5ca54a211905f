"""Log destinations and formats: `--log-format text|json` for the error log and the access log,
and `reopen()` for logrotate (SIGUSR1, `greenh2ctl reopen`).

JSON lines are one object per line so log shippers need no multi-line parsing. Error lines carry
timestamp, level, pid, logger and message (and the traceback as `exception`); access lines carry
timestamp, level, pid, remote_addr, method, path, query, protocol, status, bytes, duration
(seconds), stream_id (HTTP/2; null on HTTP/1.x), user_agent, referer and request_id (the
client's `X-Request-ID`, when it sent one).

`reopen()` reopens every log file this process writes (the error log's file handlers and the
access logs made by `access_log`): after logrotate moved a file, new lines go to a new file at the
configured path. It is safe to call from a signal handler greenlet or a control command.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import weakref
from datetime import datetime
from typing import Any

from greenh2.config import Config
from greenh2.wsgi.accesslog import AccessLog
from greenh2.wsgi.response import Response

log = logging.getLogger("greenh2")
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
TEXT_DATEFMT = "%Y-%m-%d %H:%M:%S %z"
_access_logs: weakref.WeakSet[AccessLog] = weakref.WeakSet()


def timestamp(when: float) -> str:
    """ISO 8601 with milliseconds and the UTC offset (what log pipelines parse without help)."""
    return datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per error-log record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": timestamp(record.created), "level": record.levelname.lower(),
            "pid": record.process, "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(config: Config) -> None:
    """The `greenh2` logger: level, destination (`error_log`) and format (`log_format`)."""
    handler: logging.Handler
    if config.error_log in ("", "-"):
        handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.FileHandler(config.error_log)
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, TEXT_DATEFMT))
    log.handlers[:] = [handler]
    log.setLevel(config.log_level.upper())
    log.propagate = False


class JsonAccessLog(AccessLog):
    """Access lines as JSON objects (the `access_log_format` atoms do not apply)."""

    def line(self, environ: dict[str, Any], resp: Response, duration: float) -> str:
        stream_id = environ.get("greenh2.stream_id") or None
        entry = {
            "timestamp": timestamp(time.time()), "level": "info", "type": "access",
            "pid": int(self.pid), "remote_addr": environ.get("REMOTE_ADDR", ""),
            "method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""), "protocol": environ["SERVER_PROTOCOL"],
            "status": resp.status or None, "bytes": resp.bytes_sent,
            "duration": round(duration, 6), "stream_id": stream_id,
            "user_agent": environ.get("HTTP_USER_AGENT"), "referer": environ.get("HTTP_REFERER"),
        }
        request_id = environ.get("HTTP_X_REQUEST_ID")
        if request_id is not None:
            entry["request_id"] = request_id
        return json.dumps(entry, ensure_ascii=False)


def access_log(config: Config) -> AccessLog | None:
    """The access log `config` asks for (None: off), registered for `reopen()`."""
    if not config.access_log:
        return None
    kind = JsonAccessLog if config.log_format == "json" else AccessLog
    logger = kind(config.access_log, config.access_log_format)
    _access_logs.add(logger)
    return logger


def reopen() -> None:
    """Reopen the error log file and the access log files (SIGUSR1 / greenh2ctl reopen)."""
    for handler in list(log.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream:
                    handler.stream.close()
                handler.stream = handler._open()
            finally:
                handler.release()
    for access in list(_access_logs):
        try:
            access.reopen()
        except OSError as exc:
            log.error("cannot reopen access log %s: %s", access.target, exc)
    log.info("log files reopened")
