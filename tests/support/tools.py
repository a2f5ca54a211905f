"""Run the external HTTP clients (curl, nghttp, h2load) with timeouts."""
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field


class ToolMissing(AssertionError):
    pass


def require(tool):
    path = shutil.which(tool)
    if not path:
        raise ToolMissing(
            "required tool %r is not installed (Debian: apt-get install curl nghttp2-client)" % tool)
    return path


@dataclass
class Result:
    cmd: list
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    def check(self):
        assert self.returncode == 0, (
            "command failed (rc=%d): %s\nstdout:\n%s\nstderr:\n%s"
            % (self.returncode, " ".join(self.cmd), self.stdout[-4000:], self.stderr[-4000:]))
        return self


def run(cmd, timeout=30.0, input=None):
    require(cmd[0])
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("command timed out after %.1fs: %s\nstdout:\n%s\nstderr:\n%s" % (
            timeout, " ".join(cmd),
            (e.stdout or b"").decode(errors="replace")[-4000:],
            (e.stderr or b"").decode(errors="replace")[-4000:]))
    return Result(list(cmd), p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


CURL_WRITEOUT = "\n__CURL__ %{http_code} %{http_version} %{size_download}"
_CURL_TAIL = re.compile(r"\n?__CURL__ (\d+) (\S+) (\d+)\s*$")


@dataclass
class CurlResult:
    result: Result
    status: int
    http_version: str
    size_download: int
    body: str

    @property
    def stderr(self):
        return self.result.stderr


def curl(args, timeout=30.0, input=None):
    """Run ``curl -sS --max-time ...`` with a write-out trailer parsed into
    status / http_version / size_download. The rest of stdout is ``body``."""
    cmd = ["curl", "-sS", "--max-time", str(int(timeout)),
           "-w", CURL_WRITEOUT] + list(args)
    res = run(cmd, timeout=timeout + 5, input=input)
    res.check()
    m = _CURL_TAIL.search(res.stdout)
    assert m, "could not parse curl write-out from %r" % res.stdout[-500:]
    body = res.stdout[:m.start()]
    return CurlResult(res, int(m.group(1)), m.group(2), int(m.group(3)), body)


def nghttp(args, timeout=30.0):
    return run(["nghttp"] + list(args), timeout=timeout)


@dataclass
class H2LoadStats:
    total: int = 0
    started: int = 0
    done: int = 0
    succeeded: int = 0
    failed: int = 0
    errored: int = 0
    timeout: int = 0
    status_2xx: int = 0
    finished_in: float = None
    protocol: str = None
    raw: str = field(default="", repr=False)


_REQ_RE = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
    r"(\d+) failed, (\d+) errored, (\d+) timeout")
_STATUS_RE = re.compile(r"status codes: (\d+) 2xx")
_FIN_RE = re.compile(r"finished in ([\d.]+)(ms|s|us)")
_PROTO_RE = re.compile(r"Application protocol: (\S+)")


def parse_h2load(text):
    m = _REQ_RE.search(text)
    assert m, "no 'requests:' line in h2load output:\n%s" % text[-3000:]
    st = H2LoadStats(*[int(x) for x in m.groups()], raw=text)
    m = _STATUS_RE.search(text)
    if m:
        st.status_2xx = int(m.group(1))
    m = _FIN_RE.search(text)
    if m:
        v = float(m.group(1))
        st.finished_in = v / 1000 if m.group(2) == "ms" else v / 1e6 if m.group(2) == "us" else v
    m = _PROTO_RE.search(text)
    if m:
        st.protocol = m.group(1)
    return st


def h2load(args, timeout=60.0):
    res = run(["h2load"] + list(args), timeout=timeout)
    stats = parse_h2load(res.stdout + "\n" + res.stderr)
    return res, stats
