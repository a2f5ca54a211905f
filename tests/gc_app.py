"""Reports the serving process's garbage-collector setup (tests/integration/test_gc_threshold.py)."""
import gc
import json
import os

from werkzeug.middleware.lint import LintMiddleware


def _report(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "enabled": gc.isenabled(),
                       "threshold": list(gc.get_threshold()),
                       "frozen": gc.get_freeze_count()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


app = LintMiddleware(_report)
