"""Import `MODULE:CALLABLE` the way gunicorn does (current directory importable), turning every
failure into one readable AppLoadError line instead of a traceback."""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from greenh2.errors import AppLoadError


def load_app(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise AppLoadError(f"bad application {spec!r}: expected MODULE:CALLABLE")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(f"cannot import module {module_name!r}: no such module") from None
        raise AppLoadError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise AppLoadError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    names = [attr] if attr else ["application", "app"]
    for name in names:
        obj: Any = module
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if not callable(obj):
            raise AppLoadError(f"{module_name}:{name} is not callable (got {type(obj).__name__})")
        return obj
    raise AppLoadError(f"module {module_name!r} has no attribute {' or '.join(names)!r}")



