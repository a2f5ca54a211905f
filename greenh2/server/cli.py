"""The `greenh2` command. Its flags are generated from the `Config` fields, so the CLI, the
environment, the config file and the gunicorn mapping can never disagree.

Order of start-up, as in gunicorn's gevent worker: parse and validate everything, bind the
sockets (errors are one line, exit 2), monkey-patch, and only then import the application.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, NoReturn

from greenh2._version import __version__
from greenh2.config import FIELDS, Config
from greenh2.errors import AppLoadError, ConfigError
from greenh2.ops import systemd
from greenh2.server.binds import address_of, open_listener, parse_bind

log = logging.getLogger("greenh2")
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greenh2", description="HTTP/2 + HTTP/1.1 WSGI server on gevent: one greenlet per "
        "stream, so blocking handlers on one connection run concurrently.",
        epilog="Every option can also be set as GREENH2_<NAME> in the environment or as <name> "
        "in the TOML file given with --config. Precedence: defaults < file < environment < flags.")
    parser.add_argument("app", nargs="?", default=argparse.SUPPRESS,
                        help="WSGI application as MODULE:CALLABLE (default: a demo app)")
    parser.add_argument("-c", "--config", dest="config_file", metavar="FILE",
                        help="TOML config file (keys are the option names with underscores)")
    parser.add_argument("--version", action="version", version=f"greenh2 {__version__}")
    for name, f in FIELDS.items():
        meta = f.metadata
        if not meta["cli"]:
            continue
        flags = [f"--{name.replace('_', '-')}"] + ([meta["short"]] if meta["short"] else [])
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": _help(f)}
        kind = str(f.type)
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind.startswith("tuple"):
            kwargs["action"] = "append"
            kwargs["metavar"] = meta["metavar"] or "VALUE"
        else:
            kwargs["type"] = {"int": int, "float": float}.get(kind, str)
            kwargs["metavar"] = meta["metavar"] or name.upper()
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
        parser.add_argument(*flags, **kwargs)
    return parser


def _help(f: Any) -> str:
    default = f.default
    if isinstance(default, tuple):
        default = ", ".join(default)
    text = f"{f.metadata['help']} (default: {default})" if default not in ("", False) else f.metadata["help"]
    return text.replace("%", "%%")


def parse_config(argv: list[str]) -> Config:
    args: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
            for k, v in vars(build_parser().parse_args(argv)).items()}
    config_file = args.pop("config_file", None)
    return Config.load(args, os.environ, config_file)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    print(f"greenh2: error: {message}", file=sys.stderr)
    sys.exit(code)


def setup_logging(config: Config) -> None:
    from greenh2.ops.logs import setup_logging as setup
    setup(config)


def start_metrics(config: Config, in_master: bool) -> None:
    """--metrics-bind: count into prometheus_client and serve /metrics, /healthz, /readyz.
    With --workers the master listens and every process writes its own multiprocess files
    (the directory must be set before prometheus_client is imported: here, before the fork)."""
    if not config.metrics_bind:
        return
    from greenh2.ops import metrics
    if in_master:
        metrics.prepare_multiprocess()
    metrics.install_observer()
    from greenh2.ops.health import start_listener, url
    log.info("Metrics at: %s (and /healthz, /readyz)", url(start_listener(config.metrics_bind)))


def main(argv: list[str] | None = None) -> None:
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv)
        if config.chdir:
            os.chdir(config.chdir)
        if config.self_signed:
            from greenh2.server.selfsigned import make_self_signed
            certfile, keyfile = make_self_signed()
            config = config.replace(certfile=certfile, keyfile=keyfile, self_signed=False)
        if config.certfile:
            _check_tls(config)
        setup_logging(config)
        addresses, listeners = _listeners(config)
    except ConfigError as exc:
        fail(str(exc))
    urls = [a.url(config.tls_enabled, s) for a, s in zip(addresses, listeners, strict=True)]

    def announce() -> None:
        for url in urls:
            log.info("Listening at: %s (%s)", url, _protocols(config))
    if config.workers > 1:
        from greenh2.server.prefork import Master
        try:
            start_metrics(config, in_master=True)
        except ConfigError as exc:
            fail(str(exc))
        announce()
        sys.exit(Master(config, listeners, lambda socks: run_worker(config, socks)).run())
    sys.exit(run_worker(config, listeners, announce))


def _listeners(config: Config) -> tuple[list[Any], list[Any]]:
    """Sockets passed by systemd socket activation (LISTEN_FDS for this pid) replace --bind;
    otherwise bind every --bind address."""
    names = systemd.listen_fd_names()
    inherited = systemd.listen_fds()
    if inherited:
        log.info("socket activation: %d listening socket(s) from the service manager%s; "
                 "--bind ignored", len(inherited), f" ({', '.join(names)})" if names else "")
        return [address_of(s) for s in inherited], inherited
    addresses = [parse_bind(b) for b in config.bind]
    return addresses, [open_listener(a) for a in addresses]


def _protocols(config: Config) -> str:
    names = []
    if "h2" in config.protocols:
        names.append("h2" if config.tls_enabled else "h2c")
    if "h1" in config.protocols:
        names.append("http/1.1")
    return ", ".join(names)


def _check_tls(config: Config) -> None:
    """Load the certificate once before binding, so a bad cert/key fails fast with one line."""
    from greenh2.server.tls import make_context
    make_context(config, config.certfile, config.keyfile)


def run_worker(config: Config, listeners: list[Any], announce: Any = None) -> int:
    """Patch, import the app, serve until stopped. Returns the process exit status."""
    if config.monkey_patch:
        from gevent import monkey
        monkey.patch_all()
    from greenh2.observe import STATE
    STATE.start_draining()  # /readyz: not ready until this process accepts
    try:
        if config.workers == 1:
            start_metrics(config, in_master=False)
        if config.app:
            from greenh2.server.apploader import load_app
            app = load_app(config.app)
        else:
            from greenh2.server.demo import demo_app
            app = demo_app
            log.info("no application given: serving the built-in demo app")
        from greenh2.server.process import Server, build_handler
        server = Server(config, build_handler(config, app), listeners)
    except (AppLoadError, ConfigError) as exc:
        print(f"greenh2: error: {exc}", file=sys.stderr)
        from greenh2.server.prefork import BOOT_ERROR
        return BOOT_ERROR if config.workers > 1 else EXIT_USAGE
    def ready() -> None:
        if announce is not None:  # after the app loaded: a failed start prints only its error
            announce()
        log.info("greenh2 %s serving (pid %d)", __version__, os.getpid())
        STATE.ready_again()
        from greenh2.server.prefork import notify_ready
        notify_ready()  # with --workers: the master counts this worker as serving
        if config.workers == 1:
            systemd.ready(f"serving on {len(listeners)} listener(s)")
    if config.workers == 1:  # the main process talks to systemd; pre-forked workers do not
        server.on_draining = systemd.stopping
    server.serve_forever(on_ready=ready)
    log.info("stopped")
    return 0


__all__ = ["build_parser", "main", "parse_config"]
