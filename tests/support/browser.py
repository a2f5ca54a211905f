"""Headless Chromium (Debian's `chromium`) for browser tests: open one page, wait for a
condition checked from the outside (the page reports to the server), always kill the browser.

A missing browser is a failure with a clear message (tests/run.sh installs it), never a pass.
"""
import os
import shutil
import signal
import subprocess
import time

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
    # The certificate is made by the test (self-signed): accept it for this throw-away profile.
    "--ignore-certificate-errors",
]


def chromium_binary():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.path.exists("/usr/bin/chromium"):
        path = "/usr/bin/chromium"
    assert path, ("chromium is not installed: the browser tests need Debian's `chromium` "
                  "package (bash tests/run.sh installs it; or apt-get install chromium)")
    return path


class Chromium:
    """`with Chromium(url, profile_dir) as browser: browser.wait(check, timeout)`."""

    def __init__(self, url, profile_dir, extra_flags=()):
        self.argv = [chromium_binary(), *CHROMIUM_FLAGS, *extra_flags,
                     f"--user-data-dir={profile_dir}", url]
        self.log_path = os.path.join(profile_dir, "chromium.log")
        self.proc = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(3.0)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None

    def log_tail(self, size=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait(self, check, timeout):
        """Poll `check()` until it returns a true value (returned) or `timeout` passes (None)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                value = check()
                assert value, ("chromium exited (%s) before the page reported:\n%s"
                               % (self.proc.returncode, self.log_tail()))
                return value
            time.sleep(0.2)
        return None
