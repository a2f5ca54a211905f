"""The app served when `greenh2` runs with no application: it shows what the connection got."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from greenh2.ops.ioloop import loop_name


def demo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    info = {
        "server": environ.get("SERVER_SOFTWARE"),
        "protocol": environ.get("SERVER_PROTOCOL"),
        "alpn": environ.get("greenh2.alpn") or None,
        "tls_version": environ.get("greenh2.tls_version") or None,
        "stream_id": environ.get("greenh2.stream_id") or None,
        "scheme": environ.get("wsgi.url_scheme"),
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "client": f"{environ.get('REMOTE_ADDR')}:{environ.get('REMOTE_PORT')}",
        "io_backend": loop_name(),
    }
    body = (json.dumps(info, indent=2) + "\n").encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
