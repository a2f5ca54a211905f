"""Run ``greenh2ctl`` (``python -m greenh2.ops.ctl``) against a test server."""
import json
import subprocess
import sys

from . import REPO_ROOT
from .server import subprocess_env


def run_ctl(args, env=None, timeout=20.0):
    """CompletedProcess of ``greenh2ctl args`` (text output)."""
    return subprocess.run([sys.executable, "-m", "greenh2.ops.ctl", *args], cwd=REPO_ROOT,
                          env=subprocess_env(env), capture_output=True, text=True, timeout=timeout)


def ctl_json(args, env=None, timeout=20.0):
    """The ``--json`` answer of a command that must succeed."""
    res = run_ctl(["--json", *args], env=env, timeout=timeout)
    assert res.returncode == 0, "greenh2ctl %r failed (%d): %s%s" % (args, res.returncode,
                                                                     res.stdout, res.stderr)
    return json.loads(res.stdout)
