"""WSGI app for the attack tests: apps.app plus routes that count running handlers.

/work?s=N   sleeps N seconds without touching the request (a handler that keeps working after
            its stream is reset: it counts as live until it returns, CVE-2025-8671)
/counters   JSON: handlers started, running now, and the most ever running at once
"""
import json
import threading
import time
from urllib.parse import parse_qs

from apps import app as base_app

_lock = threading.Lock()
COUNTERS = {"started": 0, "running": 0, "max_running": 0}


def work(environ, start_response):
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["1"])[0])
    with _lock:
        COUNTERS["started"] += 1
        COUNTERS["running"] += 1
        COUNTERS["max_running"] = max(COUNTERS["max_running"], COUNTERS["running"])
    try:
        time.sleep(seconds)
    finally:
        with _lock:
            COUNTERS["running"] -= 1
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"done\n"]


def counters(environ, start_response):
    with _lock:
        body = json.dumps(COUNTERS).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/work":
        return work(environ, start_response)
    if path == "/counters":
        return counters(environ, start_response)
    return base_app(environ, start_response)
