#!/usr/bin/env bash
# One command from a fresh machine to a passing test run: installs the Debian clients the tests
# drive (curl, nghttp, h2load, headless chromium, slowhttptest), PostgreSQL for examples/django, the package
# with its test extras, runs the static checks (ruff, mypy, import-linter), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v curl >/dev/null || need+=(curl)
command -v nghttp >/dev/null || need+=(nghttp2-client)
command -v h2load >/dev/null || need+=(nghttp2-client)
# deploy/ recipes (tests/deploy): run for real; a missing one is skipped with its reason
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v caddy >/dev/null || need+=(caddy)
command -v systemd-socket-activate >/dev/null || need+=(systemd)
command -v chromium >/dev/null || need+=(chromium)  # the WebSocket browser tests (headless)
# examples/django on a throw-away PostgreSQL (tests/example_projects): initdb/pg_ctl, not a running server
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || need+=(postgresql)
command -v slowhttptest >/dev/null || need+=(slowhttptest)  # tests/attacks/test_slowhttptest.py
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test,gunicorn]'
# The layers and habits, enforced: lint + import order, types, and the import-linter contracts
# (setup.cfg) that fail when a lower layer imports a higher one.
python3 -m ruff check .
python3 -m mypy
lint-imports
# 4 test processes on any number of cores: most tests wait on sockets and subprocess servers,
# not on the CPU (GREENH2_TEST_WORKERS=0 runs in this process; a later -n in "$@" wins too)
exec python3 -m pytest -n "${GREENH2_TEST_WORKERS:-4}" "$@"
