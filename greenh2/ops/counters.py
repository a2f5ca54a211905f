"""`greenh2ctl stats`: the greenh2_* metrics registered with prometheus_client (by the metrics
feature, when present), read from the registry rather than counted twice. With a
PROMETHEUS_MULTIPROC_DIR (pre-forked workers), the multiprocess collector sums every worker's
files, so the master can answer for all of them.
"""
from __future__ import annotations

import os
from typing import Any


def registry_samples(prefix: str = "greenh2_") -> dict[str, list[dict[str, Any]]]:
    try:
        import prometheus_client
    except ImportError:
        return {}
    registry: Any = prometheus_client.REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"):
        from prometheus_client import multiprocess
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    out: dict[str, list[dict[str, Any]]] = {}
    for family in registry.collect():
        if not family.name.startswith(prefix):
            continue
        for sample in family.samples:
            out.setdefault(sample.name, []).append({"labels": dict(sample.labels),
                                                    "value": sample.value})
    return out
