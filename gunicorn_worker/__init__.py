"""The gunicorn face of greenh2: `gunicorn -k greenh2.worker app:wsgi_app`.

Only glue lives here (gunicorn's worker lifecycle and settings mapping); every byte of protocol
and WSGI handling is greenh2's own `ConnectionHandler`, shared with the standalone server.
Importing this package imports neither gevent nor OpenSSL: gunicorn's master loads the worker
class before it forks, and the worker monkey-patches in `init_process` (with `--preload`,
`GreenH2Worker.setup` patches the arbiter before the app is imported).
"""
from gunicorn_worker.worker import GreenH2Worker

__all__ = ["GreenH2Worker"]
