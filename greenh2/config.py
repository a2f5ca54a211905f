"""The one settings schema of greenh2.

`Config` is a frozen dataclass. Every field carries its help text and parsing rules in its
metadata, and everything else is generated from it: the command-line flags (`greenh2.server.cli`), the
``GREENH2_*`` environment variables, the TOML config file and the gunicorn mapping
(`gunicorn_worker`). Precedence is defaults < file < environment < command line. Unknown keys are
errors, never silently ignored.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from greenh2.addresses import parse_bind
from greenh2.errors import ConfigError

ENV_PREFIX = "GREENH2_"


def _opt(default: Any, help: str, *, short: str | None = None, metavar: str | None = None,
         choices: tuple[str, ...] | None = None, bounds: tuple[float, float] | None = None,
         cli: bool = True, aliases: tuple[str, ...] = ()) -> Any:
    """A Config field with its help text; `short` is an extra CLI spelling like ``-b``;
    `aliases` are gunicorn's spellings of the same flag where ours differ (``--access-logfile``),
    so a gunicorn command line carries over; `bounds` is the inclusive (low, high) range a
    number must fall in."""
    meta = {"help": help, "short": short, "metavar": metavar, "choices": choices, "bounds": bounds,
            "cli": cli, "aliases": aliases}
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Config:
    """Every tunable of the server. Limits name the attack they stop (README: Limits)."""

    app: str = _opt("", "WSGI application as MODULE:CALLABLE (empty: the built-in demo app)", cli=False)
    bind: tuple[str, ...] = _opt(("127.0.0.1:8000",), "Listen on HOST:PORT, [IPv6]:PORT or "
                                 "unix:PATH (repeatable)", short="-b", metavar="ADDRESS")
    certfile: str = _opt("", "TLS certificate chain (PEM); enables TLS with ALPN h2/http1.1")
    keyfile: str = _opt("", "TLS private key (PEM)")
    self_signed: bool = _opt(False, "Serve TLS with an ephemeral self-signed localhost certificate")
    ca_certs: str = _opt("", "CA bundle for verifying client certificates")
    cert_reqs: str = _opt("none", "Client certificates: none, optional or required",
                          choices=("none", "optional", "required"))
    ciphers: str = _opt("", "OpenSSL cipher list for TLS 1.2 (default: RFC 9113 §9.2.2 AEAD suites)")
    tls_min_version: str = _opt("1.2", "Lowest TLS version accepted", choices=("1.2", "1.3"))
    http_protocols: str = _opt("h2,h1", "Protocols offered: h2,h1 / h2 / h1")
    h2c_prior_knowledge: bool = _opt(True, "Accept HTTP/2 with prior knowledge on cleartext "
                                     "(connections that open with the HTTP/2 preface)")
    h2c_upgrade: bool = _opt(True, "Accept HTTP/1.1 'Upgrade: h2c' on cleartext (turn off behind "
                             "proxies that forward Upgrade: h2c smuggling)")
    threads: int = _opt(0, "Run handlers in a pool of N OS threads (0: in their stream greenlets)",
                        bounds=(0, 1024))
    workers: int = _opt(1, "Number of pre-forked worker processes", short="-w",
                        bounds=(1, 1024))
    worker_connections: int = _opt(1000, "Concurrent connections per worker process (connection "
                                   "floods; at the cap see shed_connections)",
                                   bounds=(1, 1_000_000))
    shed_connections: bool = _opt(True, "At worker_connections, admit a new connection by closing "
                                  "the one doing least: in its headers over 1 s, then below a "
                                  "minimum data rate, then idle keep-alive, oldest first (off: "
                                  "accepting pauses until one ends)")
    max_concurrent_streams: int = _opt(100, "SETTINGS_MAX_CONCURRENT_STREAMS; live handlers per "
                                       "connection (rapid reset)",
                                       bounds=(1, 2**31 - 1))
    initial_window_size: int = _opt(262144, "SETTINGS_INITIAL_WINDOW_SIZE: bytes of request body "
                                    "buffered per stream",
                                    bounds=(1, 2**31 - 1))
    connection_window_size: int = _opt(8388608, "Connection-level receive window announced at start",
                                       bounds=(65535, 2**31 - 1))
    max_frame_size: int = _opt(16384, "SETTINGS_MAX_FRAME_SIZE we accept (16384..16777215)",
                               bounds=(16384, 2**24 - 1))
    max_header_list_size: int = _opt(65536, "SETTINGS_MAX_HEADER_LIST_SIZE (HPACK bomb, CVE-2019-9516)",
                                     bounds=(1024, 2**31 - 1))
    header_table_size: int = _opt(4096, "SETTINGS_HEADER_TABLE_SIZE for the HPACK decoder",
                                  bounds=(0, 2**31 - 1))
    graceful_timeout: float = _opt(30.0, "Seconds in-flight requests get to finish on shutdown",
                                   bounds=(0, 86400))
    keepalive: float = _opt(60.0, "Seconds an idle connection is kept open",
                            bounds=(0, 86400), aliases=("--keep-alive",))
    handshake_timeout: float = _opt(10.0, "Seconds for the TLS handshake plus the HTTP/2 preface or "
                                    "first HTTP/1.1 request headers (slowloris)",
                                    bounds=(0.01, 3600))
    body_timeout: float = _opt(60.0, "Seconds a handler waits for more request body (slow POST)",
                               bounds=(0.01, 86400))
    send_timeout: float = _opt(60.0, "Seconds a response may wait for flow-control window or a "
                               "socket that does not drain (CVE-2019-9511, CVE-2019-9517)",
                               bounds=(0.01, 86400))
    min_request_rate: float = _opt(240.0, "Bytes/s a request body must arrive at, counting only "
                                   "time the app waits for it, after min_rate_grace (slow POST, "
                                   "R-U-Dead-Yet; 0: off)", bounds=(0, 1e12))
    min_response_rate: float = _opt(240.0, "Bytes/s the client must take a response at, counting "
                                    "only time its socket or flow-control window holds queued "
                                    "bytes back, after min_rate_grace (slow read; 0: off)",
                                    bounds=(0, 1e12))
    min_rate_grace: float = _opt(5.0, "Seconds of waiting a client gets before min_request_rate "
                                 "and min_response_rate apply", bounds=(0, 86400))
    limit_request_line: int = _opt(8190, "Longest HTTP/1.1 request line (414 beyond)",
                                   bounds=(64, 1 << 20))
    limit_request_fields: int = _opt(100, "Most HTTP/1.1 header fields (431 beyond)",
                                     bounds=(1, 32768))
    limit_request_field_size: int = _opt(8190, "Longest HTTP/1.1 header field (431 beyond)",
                                         bounds=(64, 1 << 20))
    max_body_size: int = _opt(0, "Largest request body in bytes: a larger Content-Length gets 413 "
                              "before the app runs, a body that streams past it makes "
                              "wsgi.input raise RequestBodyTooLarge (0: no limit)",
                              metavar="BYTES", bounds=(0, 2**63))
    max_requests: int = _opt(0, "Restart a worker after this many requests (0: never)",
                             bounds=(0, 2**63))
    max_requests_jitter: int = _opt(0, "Random 0..N added to max_requests per worker",
                                    bounds=(0, 2**63))
    log_level: str = _opt("info", "Logging threshold",
                          choices=("debug", "info", "warning", "error", "critical"))
    access_log: str = _opt("", "Access log file ('-' for stderr; empty: off)",
                           aliases=("--access-logfile",))
    access_log_format: str = _opt('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                                  '%(H)s', "Access log line, gunicorn atoms",
                                  aliases=("--access-logformat",))
    error_log: str = _opt("-", "Error log file ('-' for stderr)",
                          aliases=("--error-logfile", "--log-file"))
    monkey_patch: bool = _opt(True, "gevent.monkey.patch_all() before importing the app (turn off "
                              "for apps that patch themselves)")
    forwarded_allow_ips: str = _opt("127.0.0.1,::1", "Peers whose X-Forwarded-* headers are trusted "
                                    "('*' for all)")
    secure_scheme_headers: tuple[str, ...] = _opt(
        ("X-FORWARDED-PROTOCOL=ssl", "X-FORWARDED-PROTO=https", "X-FORWARDED-SSL=on"),
        "HEADER=VALUE pairs from trusted peers that mark the request as https (repeatable)")
    chdir: str = _opt("", "Change to this directory before importing the app")
    server_header: str = _opt("greenh2", "Value of the Server response header (empty: none)")
    # --- deploy: health on the serving port, drain before closing (issue 11) ---
    health_path: str = _opt("", "Answer this path on every listener without calling the app: 200 "
                            "'ok' while serving, 503 once draining (empty: off)", metavar="PATH")
    drain_delay: float = _opt(0.0, "On a graceful stop, keep accepting this many seconds with the "
                              "health path answering 503 (so load balancers take the instance "
                              "out), then close the listeners and drain", bounds=(0, 3600))
    # WebSocket (RFC 6455 over HTTP/1.1, RFC 8441 over HTTP/2; README: WebSocket)
    websocket: bool = _opt(True, "Accept WebSocket upgrades (HTTP/1.1 Upgrade, RFC 8441 extended "
                           "CONNECT announced with SETTINGS_ENABLE_CONNECT_PROTOCOL)")
    ws_compression: bool = _opt(True, "Negotiate permessage-deflate (RFC 7692) when a client offers it")
    ws_max_message_size: int = _opt(1 << 20, "Largest WebSocket message after decompression; close "
                                    "1009 beyond (deflate bombs, endless fragmented messages)",
                                    bounds=(125, 1 << 31))
    ws_ping_interval: float = _opt(20.0, "Seconds of silence from the peer before the server pings "
                                   "(0: no pings)", bounds=(0, 86400))
    ws_pong_timeout: float = _opt(20.0, "Seconds a ping may go unanswered before the connection "
                                  "is dropped (close 1011)", bounds=(0.01, 86400))
    ws_handshake_timeout: float = _opt(5.0, "Seconds for the handshake response to be written and "
                                       "for the peer's Close reply (RFC 6455 §7.1.1)",
                                       bounds=(0.01, 3600))
    ws_idle_timeout: float = _opt(0.0, "Close a WebSocket (1001) after this many seconds without a "
                                  "message either way (0: never)", bounds=(0, 86400 * 7))
    # --- operations: metrics, health, structured logs (issue 10, metrics/logs) -------------------
    metrics_bind: str = _opt("", "Serve Prometheus /metrics, /healthz and /readyz on HOST:PORT "
                             "(with --workers: in the master, aggregated; empty: off)",
                             metavar="HOST:PORT")
    log_format: str = _opt("text", "Error and access log lines: text, or json (one object per "
                           "line)", choices=("text", "json"))
    # --- operations: PID file, control socket, reload, event loop (control/reload area) ---
    pid: str = _opt("", "Write the serving process's PID to FILE (the master's with --workers); "
                    "removed at exit", short="-p", metavar="FILE")
    control_socket: str = _opt("", "Unix control socket for greenh2ctl (empty: "
                               "$XDG_RUNTIME_DIR/greenh2.ctl or ~/.greenh2/greenh2.ctl; 'off': none)",
                               metavar="PATH")
    reload: bool = _opt(False, "Development: restart the serving process/workers when a source "
                        "file of the app changes (listeners stay open)")
    io_backend: str = _opt("auto", "gevent event loop (chosen before the hub exists)",
                           choices=("auto", "libev", "libuv"))
    gc_threshold: int = _opt(10_000, "Young-generation threshold of Python's garbage collector "
                             "in serving processes; start-up objects are frozen (gc.freeze) once "
                             "the app is loaded (0: leave the collector as Python and the app set "
                             "it; README: Performance)", bounds=(0, 1 << 30))

    def __post_init__(self) -> None:
        _validate(self)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    @property
    def tls_enabled(self) -> bool:
        return bool(self.certfile or self.self_signed)

    @property
    def protocols(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.http_protocols.split(",") if p.strip())

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, cli: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
             config_file: str | None = None) -> "Config":
        """Merge defaults < config file < GREENH2_* environment < command line."""
        environ = os.environ if environ is None else environ
        merged: dict[str, Any] = {}
        path = config_file or environ.get(ENV_PREFIX + "CONFIG", "")
        if path:
            merged.update(coerce_mapping(read_toml(path), source=path))
        merged.update(from_environ(environ))
        merged.update(cli or {})
        try:
            return cls(**merged)
        except TypeError as exc:  # a wrong type slipped through a programmatic caller
            raise ConfigError(str(exc)) from None


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Config)}
_TYPES: dict[str, Any] = {n: f.type for n, f in FIELDS.items()}


def read_toml(path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return data.get("greenh2", data) if isinstance(data.get("greenh2"), dict) else data


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """GREENH2_<FIELD> variables; an unknown GREENH2_ name is an error (a typo must not pass)."""
    raw = {k[len(ENV_PREFIX):].lower(): v for k, v in environ.items()
           if k.startswith(ENV_PREFIX) and k != ENV_PREFIX + "CONFIG"}
    return coerce_mapping(raw, source="environment", env=True)


def coerce_mapping(raw: Mapping[str, Any], *, source: str, env: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            shown = ENV_PREFIX + name.upper() if env else key
            raise ConfigError(f"unknown setting {shown!r} in {source}")
        out[name] = coerce(name, value)
    return out


def coerce(name: str, value: Any) -> Any:
    """Turn a string (env, CLI) or TOML value into the field's type, or raise ConfigError."""
    kind = _TYPES[name]
    try:
        if kind == "bool":
            return _to_bool(value)
        if kind == "int":
            if isinstance(value, (bool, float)):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r}: {value!r} is not a valid {kind}") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)




def _validate(cfg: Config) -> None:
    for name, f in FIELDS.items():
        bounds = f.metadata["bounds"]
        if bounds and not bounds[0] <= getattr(cfg, name) <= bounds[1]:
            raise ConfigError(f"setting {name!r}: {getattr(cfg, name)} is out of range "
                              f"{bounds[0]:g}..{bounds[1]:g}")
        choices = f.metadata["choices"]
        if choices and getattr(cfg, name) not in choices:
            raise ConfigError(f"setting {name!r}: {getattr(cfg, name)!r} is not one of "
                              f"{', '.join(choices)}")
    if bool(cfg.certfile) != bool(cfg.keyfile):
        raise ConfigError("certfile and keyfile must be given together")
    if cfg.certfile and cfg.self_signed:
        raise ConfigError("self_signed and certfile exclude each other")
    if not cfg.bind:
        raise ConfigError("at least one bind address is needed")
    unknown = set(cfg.protocols) - {"h2", "h1"}
    if unknown or not cfg.protocols:
        raise ConfigError(f"http_protocols: {cfg.http_protocols!r}: use h2, h1 or h2,h1")
    for address in cfg.bind:
        parse_bind(address)
    if cfg.health_path and not cfg.health_path.startswith("/"):
        raise ConfigError(f"health_path: {cfg.health_path!r} must start with /")
    if cfg.metrics_bind and (parse_bind(cfg.metrics_bind).path or cfg.metrics_bind.startswith("fd:")):
        raise ConfigError(f"metrics_bind {cfg.metrics_bind!r}: use HOST:PORT")
