"""Access log lines in gunicorn's format language (`%(h)s %(r)s %(s)s ...`), so log pipelines
built for gunicorn keep working. `%(H)s` is the real protocol: `HTTP/2.0` for HTTP/2."""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Protocol, TextIO

from greenh2.wsgi.response import Response


class AccessLogger(Protocol):
    """Anything that logs a finished request: `AccessLog`, or gunicorn's logger in the worker."""

    def log(self, environ: dict[str, Any], resp: Response, duration: float) -> None: ...


class _Atoms(dict):
    """Unknown atoms and `{header}i`/`{header}o`/`{var}e` lookups render as '-'."""

    def __init__(self, environ: dict[str, Any], resp_headers: dict[str, str]) -> None:
        super().__init__()
        self.environ, self.resp_headers = environ, resp_headers

    def __missing__(self, key: str) -> str:
        if key.startswith("{") and len(key) > 3 and key[-2] == "}":
            name, kind = key[1:-2], key[-1]
            if kind == "i":
                return self.environ.get("HTTP_" + name.upper().replace("-", "_"), "-")
            if kind == "o":
                return self.resp_headers.get(name.lower(), "-")
            if kind == "e":
                return str(self.environ.get(name, "-"))
        return "-"


class AccessLog:
    def __init__(self, target: str, fmt: str) -> None:
        self.fmt = fmt
        self.target = target
        self.stream: TextIO = sys.stderr if target == "-" else open(target, "a", buffering=1)
        self.pid = str(os.getpid())

    def reopen(self) -> None:
        """Open the file at the configured path again (logrotate moved the old one: SIGUSR1)."""
        if self.target == "-":
            return
        old, self.stream = self.stream, open(self.target, "a", buffering=1)
        old.close()

    def line(self, environ: dict[str, Any], resp: Response, duration: float) -> str:
        headers = {n.lower(): v for n, v in (resp.headers or [])}
        query = environ.get("QUERY_STRING", "")
        uri = environ.get("PATH_INFO", "") + ("?" + query if query else "")
        request = f"{environ['REQUEST_METHOD']} {environ.get('RAW_URI', uri)} {environ['SERVER_PROTOCOL']}"
        atoms = _Atoms(environ, headers)
        atoms.update({
            "h": environ.get("REMOTE_ADDR", "-"), "l": "-", "u": _user(environ),
            "t": time.strftime("[%d/%b/%Y:%H:%M:%S %z]"), "r": request,
            "s": str(resp.status or "-"), "m": environ["REQUEST_METHOD"], "U": environ.get("PATH_INFO", ""),
            "q": query, "H": environ["SERVER_PROTOCOL"], "b": str(resp.bytes_sent or "-"),
            "B": str(resp.bytes_sent), "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"), "T": str(int(duration)),
            "D": str(int(duration * 1e6)), "M": str(int(duration * 1e3)), "L": f"{duration:.6f}",
            "p": f"<{self.pid}>",
        })
        return self.fmt % atoms

    def log(self, environ: dict[str, Any], resp: Response, duration: float) -> None:
        try:
            self.stream.write(self.line(environ, resp, duration) + "\n")
        except Exception:  # a bad format must not fail requests
            logging.getLogger("greenh2").exception("access log format failed")


def _user(environ: dict[str, Any]) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:6].lower() == "basic ":
        import base64
        try:
            return base64.b64decode(auth[6:]).decode("latin-1").split(":", 1)[0] or "-"
        except ValueError:
            return "-"
    return "-"
