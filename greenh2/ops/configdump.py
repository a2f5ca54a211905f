"""`--print-config`: the effective settings as TOML, each line saying where its value came from.

The output is valid TOML that `greenh2 -c FILE` reads back to the same settings (one key per
Config field, comments after the values). Sources follow the precedence of `Config.load`:
default < file < environment < command line.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from greenh2.config import ENV_PREFIX, FIELDS, Config, coerce_mapping, from_environ, read_toml


def sources(cli: Mapping[str, Any], environ: Mapping[str, str],
            config_file: str | None) -> dict[str, str]:
    """Field name -> 'default', 'file PATH', 'env GREENH2_X' or 'CLI'."""
    found = {name: "default" for name in FIELDS}
    path = config_file or environ.get(ENV_PREFIX + "CONFIG", "")
    if path:
        for name in coerce_mapping(read_toml(path), source=path):
            found[name] = f"file {path}"
    for name in from_environ(environ):
        found[name] = f"env {ENV_PREFIX}{name.upper()}"
    for name in cli:
        found[name] = "CLI"
    return found


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string (same escapes)


def to_toml(config: Config, origin: Mapping[str, str]) -> str:
    lines = ["# greenh2 effective configuration: value  # source"]
    for name in FIELDS:
        lines.append(f"{name} = {toml_value(getattr(config, name))}  # {origin.get(name, 'default')}")
    return "\n".join(lines) + "\n"
