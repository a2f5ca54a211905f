"""Fixtures for the deploy/ recipe tests: free ports, external programs (skipped with the reason
when a Debian package is missing), and background processes that are always stopped."""
import os
import shutil
import signal
import subprocess

import pytest
from support import ports
from support import wait as support_wait

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy")
APP = "deploy.deploy_app:app"


def need(program, package):
    """The program's path, or a skip naming the Debian package tests/run.sh installs."""
    path = shutil.which(program) or (os.path.exists("/usr/sbin/" + program) and "/usr/sbin/" + program)
    if not path:
        pytest.skip("%s not installed (Debian package %s; tests/run.sh installs it)" % (program, package))
    return path


free_port = ports.free_port  # outside the ephemeral range, a slice per xdist worker


def wait_port(port, timeout=30.0, host="127.0.0.1"):
    support_wait.wait_port(port, host=host, timeout=timeout)


class Background:
    """A program run in its own session with stdout+stderr in a file; killed at close."""

    def __init__(self, cmd, log_path, env=None, cwd=None):
        self.cmd = cmd
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        self._log.close()


@pytest.fixture
def background(tmp_path):
    started = []

    def start(cmd, name, env=None, cwd=None):
        b = Background(cmd, str(tmp_path / (name + ".log")), env=env, cwd=cwd)
        started.append(b)
        return b
    yield start
    for b in started:
        b.close()
