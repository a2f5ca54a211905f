"""greenh2: an HTTP/2 + HTTP/1.1 WSGI server on gevent, one greenlet per connection and per stream.

`import greenh2` stays light: it imports neither gevent, OpenSSL nor gunicorn, so gunicorn's
master can resolve `-k greenh2.worker` before it forks. `greenh2.worker` is the gunicorn worker
class itself (PEP 562 lazy attribute), as gunicorn's `load_class` expects.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Config", "serve", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "worker":
        from gunicorn_worker import GreenH2Worker
        return GreenH2Worker
    if name == "Config":
        from greenh2.config import Config
        return Config
    if name == "serve":
        from greenh2.server import serve
        return serve
    raise AttributeError(f"module 'greenh2' has no attribute {name!r}")
