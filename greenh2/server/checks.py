"""`--check-config`: everything a start would check, without binding or serving.

Loads the settings (done by the caller), the TLS certificate and key, the chosen event loop and
the application itself (after monkey-patching, as a real start does), and answers with one line.
Problems raise ConfigError / AppLoadError, which the CLI prints as one line with exit status 2.
Bind addresses are parsed but not bound: a port in use shows at start, not here (as gunicorn).
"""
from __future__ import annotations

import os

from greenh2.config import Config
from greenh2.errors import ConfigError


def check_config(config: Config) -> str:
    from greenh2.ops.ioloop import check_loop
    if config.chdir:
        try:
            os.chdir(config.chdir)
        except OSError as exc:
            raise ConfigError(f"chdir {config.chdir}: {exc.strerror}") from None
    if config.certfile:
        from greenh2.server.tls import make_context
        make_context(config, config.certfile, config.keyfile)
    try:
        check_loop(config.io_backend)
    except ImportError as exc:
        raise ConfigError(f"io_backend {config.io_backend}: not available ({exc})") from None
    if config.monkey_patch:
        from gevent import monkey
        monkey.patch_all()
    app = "the demo app"
    if config.app:
        from greenh2.server.apploader import load_app
        load_app(config.app)
        app = config.app
    tls = "self-signed TLS" if config.self_signed else "TLS" if config.certfile else "cleartext"
    return f"greenh2: config OK: {app} on {', '.join(config.bind)} ({tls})"
