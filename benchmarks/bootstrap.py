"""Makes the benchmark's own virtualenv (benchmarks/.venv) and re-executes the runner in it.

Why this module exists: the servers under comparison (newest gunicorn with its gevent and http2
extras, hypercorn with uvloop, granian, and greenh2 from this checkout) must not be installed
into the developer's or CI's environment, and `python3 benchmarks/run.py` must work from a
fresh clone. This module only uses the standard library because it runs before the venv
exists. It is named bootstrap, not venv, so it never shadows the stdlib `venv` module.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
PEERS = ["gunicorn[gevent,http2]", "hypercorn[uvloop]", "granian", "psutil", "cryptography",
         "h2", "hpack", "matplotlib", "py-spy", "flask",
         "django>=5.2,<6", "psycopg[binary,pool]>=3.2"]  # scenario D1 (examples/django)
MARKER = os.path.join(VENV, ".bench-peers")
GREENH2_MARKER = os.path.join(VENV, ".bench-greenh2")


def in_venv() -> bool:
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def _pip(args: list, log_path: str) -> bool:
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "wb") as log:
        rc = subprocess.call([VENV_PY, "-m", "pip", "install", "--disable-pip-version-check",
                              *args], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    return rc == 0


def ensure_h2load() -> None:
    """Install Debian's nghttp2-client (h2load) when it is missing."""
    if shutil.which("h2load"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("bench: installing nghttp2-client (h2load) with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.check_call(sudo + ["apt-get", "update", "-qq"], env=env)
    subprocess.check_call(sudo + ["apt-get", "install", "-y", "-qq", "nghttp2-client"], env=env)


def ensure_venv(log_dir: str, reinstall: bool = False) -> None:
    """Create the venv and install the peers (once; again with reinstall=True, upgrading)."""
    if not os.path.exists(VENV_PY):
        print(f"bench: creating {VENV}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    wanted = "\n".join(PEERS)
    have = open(MARKER).read() if os.path.exists(MARKER) else ""
    if reinstall or have != wanted:
        print("bench: installing " + " ".join(PEERS) + " (log: out/logs/pip-peers.log)",
              flush=True)
        if not _pip(["--upgrade", *PEERS], os.path.join(log_dir, "pip-peers.log")):
            raise SystemExit(f"bench: pip install of the peers failed, see {log_dir}/pip-peers.log")
        with open(MARKER, "w") as f:
            f.write(wanted)
    if reinstall or not os.path.exists(GREENH2_MARKER):
        # greenh2 may not be installable yet (it is being written); the harness then still runs
        # it from the checkout (PYTHONPATH) and reports its column as an error if it can't start.
        print("bench: pip install -e " + REPO, flush=True)
        if _pip(["-e", REPO], os.path.join(log_dir, "pip-greenh2.log")):
            open(GREENH2_MARKER, "w").close()
        else:
            print(f"bench: WARNING: pip install -e {REPO} failed (see {log_dir}/pip-greenh2.log);"
                  " greenh2 runs from the checkout if it can", flush=True)


def reexec_in_venv(argv: list, log_dir: str, reinstall: bool) -> None:
    """Make sure h2load and the venv exist, then replace this process by the venv's runner."""
    ensure_h2load()
    ensure_venv(log_dir, reinstall)
    env = dict(os.environ, PYTHONPATH=REPO, BENCH_BOOTSTRAPPED="1")
    os.chdir(REPO)
    os.execve(VENV_PY, [VENV_PY, "-m", "benchmarks.run", *argv], env)
