"""Headless Chromium (Debian's `chromium`) for browser tests: open one page, wait for a
condition checked from the outside (the page reports to the server, or the test reads the page
through the DevTools protocol, `DevTools`), always kill the browser.

A missing browser is a failure with a clear message (tests/run.sh installs it), never a pass.
"""
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

from websockets.sync.client import connect as ws_connect

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
        self.profile_dir = profile_dir
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


class JSError(AssertionError):
    """The evaluated JavaScript threw."""


class DevTools:
    """The page of a Chromium started with `--remote-debugging-port=0`, driven over the DevTools
    protocol (a WebSocket; the `websockets` client): evaluate JavaScript in it.
    `with DevTools(browser) as page: page.wait_for("js expression")`."""

    def __init__(self, browser, timeout=10.0):
        self.browser, self.timeout = browser, timeout
        self.ids = itertools.count(1)
        self.ws = None

    def __enter__(self):
        port_file = os.path.join(self.browser.profile_dir, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            assert time.monotonic() < deadline, "no DevToolsActivePort:\n" + self.browser.log_tail()
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                break
            assert time.monotonic() < deadline, "chromium opened no page"
            time.sleep(0.1)
        self._connection = ws_connect(pages[0]["webSocketDebuggerUrl"], max_size=None,
                                      open_timeout=5)
        self.ws = self._connection.__enter__()
        return self

    def __exit__(self, *exc):
        self._connection.__exit__(*exc)

    def evaluate(self, expression, timeout=5.0):
        """The value of a JavaScript expression in the page (JSON-serialisable); JSError if
        it throws."""
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "returnByValue": True}}))
        while True:
            reply = json.loads(self.ws.recv(timeout=timeout))
            if reply.get("id") == call_id:
                result = reply["result"]
                if "exceptionDetails" in result:
                    raise JSError(result["exceptionDetails"].get("exception", result))
                return result["result"].get("value")

    def wait_for(self, expression, timeout=10.0):
        """Poll a JavaScript expression until it is truthy (a throw counts as not yet: the page
        may still be loading); returns its value, None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except JSError:
                value = None
            if value:
                return value
            time.sleep(0.1)
        return None
