"""Test support helpers for the greenh2 integration tests.

* certs   -- throw-away self-signed certificates (cryptography)
* server  -- ServerProcess: run ``python -m greenh2`` in its own process group
* h2raw   -- a raw-frame HTTP/2 client built on the h2 client state machine
* tools   -- run curl / nghttp / h2load with timeouts and parse their output
* postgres -- a throw-away PostgreSQL cluster (initdb/pg_ctl, unix socket) and a connection sampler
"""
import os

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(TESTS_DIR)
