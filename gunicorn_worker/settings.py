"""gunicorn settings, by gunicorn's names, mapped onto greenh2's one `Config`.

Rule: a gunicorn setting you did not give leaves greenh2's default in place (so
`-k greenh2.worker` alone serves HTTP/2, h2c and HTTP/1.1 with greenh2's production limits); a
setting you gave -- on the command line, in GUNICORN_CMD_ARGS, in the config file, or through an
embedding application -- is mapped, even when its value equals gunicorn's default (so
`--http-protocols h1` means HTTP/1.1 only). GREENH2_* environment variables apply last. Settings greenh2
cannot honour are named once in the log at start.
"""
from __future__ import annotations

import ast
import importlib
import os
import shlex
import ssl
import sys
from collections.abc import Callable
from typing import Any

from greenh2.config import Config, from_environ

_CERT_REQS = {ssl.CERT_NONE: "none", ssl.CERT_OPTIONAL: "optional", ssl.CERT_REQUIRED: "required"}


def _protocols(value: Any) -> str:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return ",".join(str(i).strip() for i in items if str(i).strip())


def _tls_min(value: Any) -> str:
    return "1.3" if value in (getattr(ssl, "PROTOCOL_TLSv1_3", -1), "TLSv1_3", "1.3") else "1.2"


def _limit(big: int) -> Callable[[Any], int]:
    return lambda v: int(v) or big  # gunicorn: 0 means unlimited


def _csv(value: Any) -> str:
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


def _scheme_headers(value: Any) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in dict(value or {}).items())


# gunicorn name -> (Config field, converter)
MAPPING: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "certfile": ("certfile", str), "keyfile": ("keyfile", str), "ca_certs": ("ca_certs", str),
    "cert_reqs": ("cert_reqs", lambda v: _CERT_REQS.get(v, "none")),
    "ciphers": ("ciphers", str), "ssl_version": ("tls_min_version", _tls_min),
    "http_protocols": ("http_protocols", _protocols),
    "http2_max_concurrent_streams": ("max_concurrent_streams", int),
    "http2_initial_window_size": ("initial_window_size", int),
    "http2_max_frame_size": ("max_frame_size", int),
    "http2_max_header_list_size": ("max_header_list_size", int),
    "worker_connections": ("worker_connections", int), "keepalive": ("keepalive", float),
    "graceful_timeout": ("graceful_timeout", float),
    "limit_request_line": ("limit_request_line", _limit(1 << 20)),
    "limit_request_fields": ("limit_request_fields", _limit(32768)),
    "limit_request_field_size": ("limit_request_field_size", _limit(1 << 20)),
    "forwarded_allow_ips": ("forwarded_allow_ips", _csv),
    "secure_scheme_headers": ("secure_scheme_headers", _scheme_headers),
    "threads": ("threads", int), "loglevel": ("log_level", str.lower),
    # gunicorn 26.3+ (its asgi worker); the other ws_* settings are GREENH2_WS_* only
    "websocket_max_message_size": ("ws_max_message_size", _limit(1 << 31)),
}
# greenh2 settings gunicorn has no name for take GREENH2_* variables (from the environment or
# `raw_env` in a gunicorn config file), applied last by config_from_gunicorn: notably
# GREENH2_MAX_BODY_SIZE (gunicorn's limit_request_* bound only the request head) and GREENH2_WS_*.
# Settings that exist in gunicorn but that greenh2 does not implement: (name, why).
UNSUPPORTED = {
    "proxy_protocol": "PROXY protocol headers are not parsed by greenh2",
    "do_handshake_on_connect": "greenh2 always completes the TLS handshake in the connection's "
                               "own greenlet before reading",
    "ssl_context": "greenh2 builds a pyOpenSSL context from certfile/keyfile/ciphers instead",
}


def _differs_from_default(cfg: Any, name: str) -> bool:
    setting = cfg.settings[name]
    default = setting.default
    try:
        default = setting.validator(default) if default is not None else None
    except Exception:
        pass
    return setting.get() != default


def explicit_settings(cfg: Any, argv: list[str] | None = None) -> set[str]:
    """Names of the gunicorn settings the user gave (gunicorn itself does not record this)."""
    names = {n for n in cfg.settings if _differs_from_default(cfg, n)}
    args = shlex.split(os.environ.get("GUNICORN_CMD_ARGS", "")) + list(sys.argv[1:] if argv is None else argv)
    try:
        parsed, _ = cfg.parser().parse_known_args(args)
        names |= {k for k, v in vars(parsed).items() if v is not None and k in cfg.settings}
    except SystemExit:  # pragma: no cover - gunicorn already accepted this command line
        pass
    return names | (_config_file_names(str(cfg.config or "")) & set(cfg.settings))


def _config_file_names(location: str) -> set[str]:
    """Top-level names a gunicorn config file assigns (read, not executed a second time)."""
    if location.startswith("python:"):
        module = sys.modules.get(location[7:]) or importlib.import_module(location[7:])
        return set(vars(module))
    path = location[5:] if location.startswith("file:") else location
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def config_from_gunicorn(cfg: Any, app_uri: str = "") -> tuple[Config, list[str]]:
    """The Config for this worker, and the notes to log once (settings that cannot apply)."""
    given = explicit_settings(cfg)
    values: dict[str, Any] = {}
    for name, (field, convert) in MAPPING.items():
        if name in given and cfg.settings[name].get() is not None:
            values[field] = convert(cfg.settings[name].get())
    if "http2_cleartext" in given:
        mode = str(cfg.settings["http2_cleartext"].get())
        values["h2c_upgrade"] = mode in ("upgrade", "both")
        values["h2c_prior_knowledge"] = mode in ("prior-knowledge", "both")
    if values.get("threads") == 1:
        values.pop("threads")
    values.update(from_environ(os.environ))
    values.setdefault("app", app_uri)
    notes = [f"gunicorn setting {name!r} is not applied: {why}"
             for name, why in UNSUPPORTED.items() if name in cfg.settings and name in given]
    if "http_protocols" in cfg.settings and "http_protocols" not in given:
        notes.append("http_protocols not given: greenh2 serves h2,h1 (and h2c on cleartext); "
                     "--http-protocols h1 for HTTP/1.1 only")
    return Config(**values), notes
