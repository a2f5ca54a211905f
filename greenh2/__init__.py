"""greenh2: an HTTP/2 + HTTP/1.1 WSGI server on gevent, one greenlet per connection and per stream.

Layers, each a subpackage, imports flowing one way (checked by import-linter, see setup.cfg):
`server` -> `http2` / `http1` -> `wsgi` -> `config` / `addresses` / `errors`.

`import greenh2` stays light: it imports neither gevent, OpenSSL nor gunicorn, so gunicorn's
master can resolve `-k greenh2.worker` before it forks. `greenh2.worker` is the gunicorn worker
class itself (PEP 562 lazy attribute), as gunicorn's `load_class` expects.
"""
from __future__ import annotations

from typing import Any

from greenh2._version import __version__

__all__ = ["Config", "Server", "__version__", "serve"]


def __getattr__(name: str) -> Any:
    if name == "worker":
        from gunicorn_worker import GreenH2Worker
        return GreenH2Worker
    if name == "Config":
        from greenh2.config import Config
        return Config
    if name == "Server":
        from greenh2.server.process import Server
        return Server
    if name == "serve":
        from greenh2.server.process import serve
        return serve
    raise AttributeError(f"module 'greenh2' has no attribute {name!r}")
