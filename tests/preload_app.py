"""For the gunicorn --preload test: records, at import, whether gevent had patched the stdlib
(what a Django/psycopg app gets wrong when it is imported before the patch), and serves it."""
import json
import os
import socket
import threading

import gevent.monkey

IMPORTED_IN = os.getpid()
PATCHED_AT_IMPORT = {
    "socket": gevent.monkey.is_module_patched("socket"),
    "threading": gevent.monkey.is_module_patched("threading"),
    "lock": type(threading.Lock()).__module__,
}
_LOCK = threading.Lock()  # what a pool or an ORM makes at import


def app(environ, start_response):
    with _LOCK:  # a real lock under load must cooperate, not block the worker
        body = json.dumps({"imported_in": IMPORTED_IN, "served_by": os.getpid(),
                           "patched_at_import": PATCHED_AT_IMPORT,
                           "socket_now": socket.socket.__module__}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
